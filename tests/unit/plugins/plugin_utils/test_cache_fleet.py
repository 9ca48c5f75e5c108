"""Tampering is a fleet event (seed 000, runbook 4B): the cache purge's one decision for the hosts of the play."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.plugin_utils.cache_fleet import FleetError, decide

WEB = [f"web{n:02d}" for n in range(1, 11)]


def report(*corrupted: str, unexpected=(), group="oneiric", hosts=WEB, manifest=None, token="run-1") -> dict:
    return {"token": token, "group": group, "group_hosts": list(hosts), "clean": not (corrupted or unexpected),
            "corrupted": list(corrupted),
            "unexpected": list(unexpected), "manifest": manifest or {"ok": None}}  # fmt: skip


def test_one_corrupted_artifact_on_each_of_ten_hosts_is_ten_against_the_fleet_threshold():
    decided = decide({host: report("artifact-02.bin") for host in WEB}, "run-1", threshold=1)
    assert decided["security"] and decided["stop"] == WEB
    [escalation] = decided["escalations"]
    assert escalation["kind"] == "tampering" and escalation["raised_on"] == "web01"
    assert escalation["corrupted"] == 10 and escalation["stop"] == WEB
    assert escalation["reason"] == ("10 corrupted or unexpected artifacts across 10 host(s) of oneiric, more than 1: "
                                    "suspected tampering")  # fmt: skip
    assert [h for h, d in decided["hosts"].items() if d["raises"]] == ["web01"]
    assert all(d["stopped"] and d["fleet_bad"] == 10 for d in decided["hosts"].values())


def test_one_corrupted_artifact_in_the_fleet_is_a_purge_not_an_escalation():
    reports = {host: report() for host in WEB}
    reports["web04"] = report("artifact-02.bin")
    decided = decide(reports, "run-1", threshold=1)
    assert not decided["security"] and decided["stop"] == [] and decided["escalations"] == []
    assert decided["hosts"]["web04"] == {"group": "oneiric", "stopped": False, "raises": False, "escalation": "",
                                         "fleet_bad": 1}  # fmt: skip


def test_tampering_seen_on_one_host_of_the_play_stops_every_host_of_its_group_outside_the_play_too():
    decided = decide({"web03": report("a.bin", unexpected=["planted.bin"])}, "run-1", threshold=1)
    assert decided["stop"] == WEB and decided["escalations"][0]["raised_on"] == "web03"
    # web03 archives its own cache (its evidence step); every other host of the group is archived with the stop
    assert decided["archive"] == [host for host in WEB if host != "web03"]
    assert decided["escalations"][0]["findings"] == {"web03": {"corrupted": ["a.bin"], "unexpected": ["planted.bin"]}}


def test_groups_are_counted_apart():
    reports = {"web01": report("a.bin"), "web02": report("a.bin"),
               "db1": report("a.bin", group="db", hosts=["db1", "db2"])}  # fmt: skip
    decided = decide(reports, "run-1", threshold=1)
    assert [e["group"] for e in decided["escalations"]] == ["oneiric"] and decided["stop"] == WEB
    assert decided["hosts"]["db1"]["stopped"] is False and decided["hosts"]["db1"]["fleet_bad"] == 1


def test_a_host_in_no_group_is_its_own_fleet():
    decided = decide({"t1": report("a.bin", "b.bin", group="", hosts=[])}, "run-1", threshold=1)
    assert decided["stop"] == ["t1"] and decided["escalations"][0]["group"] == "t1"


def test_a_manifest_that_failed_verification_stops_the_group_whatever_the_count_even_after_review():
    reports = {host: report() for host in WEB[:3]}
    reports["web02"] = report(manifest={"ok": False, "reason": "the Ed25519 signature does not verify"})
    decided = decide(reports, "run-1", threshold=5, allow_tampered=True)
    [escalation] = decided["escalations"]
    assert escalation["kind"] == "manifest" and escalation["raised_on"] == "web02" and decided["stop"] == WEB
    assert (
        escalation["reason"] == "the manifest failed its verification on web02: the Ed25519 signature does not verify"
    )


def test_a_reviewed_run_lifts_the_count_not_the_manifest():
    decided = decide({host: report("a.bin") for host in WEB}, "run-1", threshold=1, allow_tampered=True)
    assert not decided["security"] and decided["stop"] == []


def test_reports_of_an_earlier_run_are_not_counted():
    reports = {"web01": report("a.bin"), "web02": report("a.bin", token="run-0"), "web03": {}}
    decided = decide(reports, "run-1", threshold=1)
    assert not decided["security"] and list(decided["hosts"]) == ["web01"]


def test_bad_reports_and_thresholds_are_the_roles_defect():
    with pytest.raises(FleetError, match="threshold must be a whole number"):
        decide({}, "run-1", threshold=-1)
    with pytest.raises(FleetError, match="corrupted must be a list of paths"):
        decide({"web01": {**report(), "corrupted": "a.bin"}}, "run-1", threshold=1)
