"""incident_plan: which service, which mitigation, and whether the severity allows acting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.incident.remediation.plugins.filter.incident_plan import (
    FilterModule,
    alert_expression,
    incident_plan,
)

LEVELS = {"critical": "P0", "sev-2": "P1", "warning": "P2", "sev-4": "P3"}
ACT_ON = ["P0", "P1"]
SERVICES = {
    "demo-app": {
        "unit": "demo-app.service",
        "release_root": "/opt/demo-app",
        "cache_dir": "/var/cache/demo-app",
        "cache_manifest": "/var/cache/demo-app/MANIFEST",
        "alerts": {
            "ServiceDown": "restart",
            "HighErrorRate": {"mitigation": "restart", "options": {"escalate": True}, "severity": "sev-2"},
            "DigestVerificationFailed": {"mitigation": "cache_purge"},
        },
    },
    "other": {"unit": "other.service", "alerts": {"OtherDown": "restart"}},
}


def alert(name="ServiceDown", **labels):
    return {
        "status": "firing",
        "labels": {"alertname": name, "instance": "web1:8080", **labels},
        "annotations": {"summary": "down"},
        "startsAt": "2026-11-23T19:30:00.123Z",
        "fingerprint": "a1b2c3d4e5f60718",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up%7Bjob%3D%22demo%22%7D+%3D%3D+0&g0.tab=1",
    }


def plan(given, **kwargs):
    return incident_plan(given, services=SERVICES, levels=LEVELS, act_on=ACT_ON, **kwargs)


def test_a_critical_alert_acts_with_the_mapped_mitigation():
    decided = plan(alert(severity="critical"))
    assert (decided["service"], decided["mitigation"], decided["level"], decided["act"]) == (
        "demo-app", "restart", "P0", True)  # fmt: skip
    assert decided["id"] == "INC-20261123T193000-a1b2c3d4e5f60718"
    assert decided["decision"] == "act: restart for ServiceDown, severity P0 may act automatically"
    assert decided["alert"]["expression"] == 'up{job="demo"} == 0'
    assert decided["silence_matchers"] == [
        {"name": "alertname", "value": "ServiceDown"},
        {"name": "instance", "value": "web1:8080"},
        {"name": "severity", "value": "critical"},
    ]


def test_the_silence_matches_the_whole_label_set_not_only_the_labels_the_route_passed():
    whole = {"alertname": "ServiceDown", "instance": "web1:8080", "severity": "critical", "job": "demo", "dc": "x"}
    narrow = alert(severity="critical")
    narrow["labels"] = {"alertname": "ServiceDown", "severity": "critical"}  # a route passing only severity
    decided = plan(narrow, alert_labels=whole)
    assert decided["silence_matchers"] == [{"name": k, "value": whole[k]} for k in sorted(whole)]
    assert decided["alert"]["labels"] == narrow["labels"], "the labels given stay as given"
    assert decided["alert"]["all_labels"] == whole, "and scope the alert's series in Prometheus"
    assert plan(alert(severity="critical"))["alert"]["all_labels"] == alert(severity="critical")["labels"]


def test_a_whole_label_set_that_is_not_the_alerts_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"labels \['instance'\] differ from its whole label set"):
        plan(alert(severity="critical"), alert_labels={"alertname": "ServiceDown", "severity": "critical"})
    with pytest.raises(AnsibleFilterError, match="alert_labels must be a mapping"):
        plan(alert(severity="critical"), alert_labels=["alertname"])


def test_the_mappings_severity_and_options_apply_and_the_operator_overrides_them():
    decided = plan(alert("HighErrorRate"), options={"force": True})
    assert (decided["severity"], decided["level"], decided["act"]) == ("sev-2", "P1", True)
    assert decided["options"] == {"escalate": True, "force": True}
    assert plan(alert("HighErrorRate"), options={"escalate": False})["options"] == {"escalate": False, "force": False}


@pytest.mark.parametrize("severity", ["warning", "sev-4", "unheard-of", None])
def test_other_severities_only_diagnose_and_say_why(severity):
    labels = {"severity": severity} if severity else {}
    decided = plan(alert(**labels))
    assert decided["act"] is False and decided["mitigation"] == "restart"
    assert decided["decision"].startswith(f"diagnose only: severity {decided['level']} of ServiceDown")
    assert "an operator decides whether to run restart" in decided["decision"]


def test_an_unknown_alert_only_diagnoses():
    decided = plan(alert("SomethingElse", severity="critical", service="demo-app"))
    assert (decided["mitigation"], decided["act"]) == ("", False)
    assert decided["decision"] == "diagnose only: no mitigation is mapped to alert SomethingElse; an operator decides"


def test_an_operator_run_acts_without_alert_and_needs_an_id():
    decided = plan({}, service="demo-app", mitigation="rollback", incident_id="OPS-1", options={"version": "1.0.0"})
    assert (decided["act"], decided["severity"], decided["alert"], decided["silence_matchers"]) == (
        True, "operator", {}, [])  # fmt: skip
    assert plan({}, service="demo-app", mitigation="rollback", incident_id="OPS-1", diagnose_only=True)["act"] is False
    with pytest.raises(AnsibleFilterError, match="an alert without a fingerprint needs incident_id"):
        plan({}, service="demo-app", mitigation="restart")


def test_the_service_is_found_from_label_mapping_or_being_the_only_one():
    assert plan(alert("OtherDown", severity="critical"))["service"] == "other"
    assert plan(alert("SomethingElse", service="other"))["service"] == "other"
    only = incident_plan(alert("SomethingElse"), services={"x": {"unit": "x.service"}})
    assert only["service"] == "x"
    with pytest.raises(AnsibleFilterError, match="cannot tell which service"):
        plan(alert("SomethingElse"))


@pytest.mark.parametrize(
    ("given", "kwargs", "message"),
    [
        (alert(), {"service": "nope"}, "service 'nope' is not described in inventory"),
        (alert(), {"mitigation": "reboot"}, "unknown mitigation 'reboot'"),
        (alert(), {"options": {"escalate": True, "rm_rf": 1}}, r"restart does not take the options \['rm_rf'\]"),
        (alert(), {"options": "force"}, "options must be a mapping"),
        (alert(), {"incident_id": "../../etc"}, "must be letters, digits"),
        (alert(), {"incident_id": "x" * 129}, "must be letters, digits"),
        ({"labels": {"instance": "a"}}, {}, "the alert has no alertname label"),
        ({"labels": ["alertname"]}, {}, "labels and annotations must be mappings"),
        ("ServiceDown", {}, "the alert must be a mapping"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(given, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        plan(given, **kwargs)


def test_a_bad_mapping_entry_names_where_it_is():
    services = {"s": {"unit": "s.service", "alerts": {"A": {"mitigation": "restart", "bogus": 1}}}}
    with pytest.raises(AnsibleFilterError, match=r"services.s.alerts.A has unknown keys \['bogus'\]"):
        incident_plan(alert("A"), services=services)


def test_label_values_stay_data():
    injected = "{{ lookup('pipe', 'id') }}"
    decided = plan(alert(severity="critical", note=injected))
    assert decided["alert"]["labels"]["note"] == injected
    assert {"name": "note", "value": injected} in decided["silence_matchers"]


def test_expression_from_generator_url():
    assert alert_expression("http://p:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1") == "rate(x[5m]) > 1"
    assert alert_expression("") == "" and alert_expression("http://p/graph") == ""


def test_filter_is_registered():
    assert FilterModule().filters()["incident_plan"] is incident_plan


LADDERED = {
    "relay-app": {
        "unit": "supervisor.service",
        "release_root": "/opt/relay",
        "alerts": {
            "RelayDown": {"ladder": [{"mitigation": "restart", "options": {"force": True}}, "rollback"],
                          "severity": "critical"},
        },
    },
}  # fmt: skip


def test_an_alert_mapped_to_a_ladder_plans_its_rungs_first_tried_first():
    decided = incident_plan(alert("RelayDown"), services=LADDERED, levels=LEVELS, act_on=ACT_ON)
    assert (
        decided["mitigation"] == "restart"
        and decided["options"] == {"force": True, "escalate": False}
        and decided["act"]
    )
    assert decided["ladder"] == [
        {"mitigation": "restart", "options": {"force": True, "escalate": False}},
        {"mitigation": "rollback", "options": {"version": "", "force": False}},
    ]


def test_a_mitigation_without_a_ladder_is_a_ladder_of_one_and_an_operator_choice_too():
    assert plan(alert())["ladder"] == [{"mitigation": "restart", "options": {"force": False, "escalate": False}}]
    chosen = incident_plan(alert("RelayDown"), services=LADDERED, mitigation="rollback", levels=LEVELS, act_on=ACT_ON)
    assert chosen["ladder"] == [{"mitigation": "rollback", "options": {"version": "", "force": False}}]
    assert plan(alert("NobodyMapsThis"), service="demo-app")["ladder"] == []


def test_escalate_on_a_restart_is_the_ladder_restart_then_rollback_for_an_alert_and_an_operator_alike():
    """Issue 22, item 4: the restart role's built-in escalation became a case of the ladder; -e escalate=true works."""
    rollback = {"mitigation": "rollback", "options": {"version": "", "force": False}}
    mapped = plan(alert("HighErrorRate"))  # mapped to restart with escalate: true
    assert [rung["mitigation"] for rung in mapped["ladder"]] == ["restart", "rollback"]
    assert mapped["ladder"][1] == rollback
    operator = plan({}, incident_id="OPS-1", service="demo-app", mitigation="restart", options={"escalate": "true"})
    assert operator["ladder"] == [{"mitigation": "restart", "options": {"force": False, "escalate": True}}, rollback]
    # a ladder that has its rollback already does not get a second one
    laddered = {"relay-app": {"unit": "s.service", "release_root": "/opt/r", "alerts": {"RelayDown": {"ladder": [
        {"mitigation": "restart", "options": {"escalate": True}}, "rollback"], "severity": "critical"}}}}  # fmt: skip
    decided = incident_plan(alert("RelayDown"), services=laddered, levels=LEVELS, act_on=ACT_ON)
    assert [rung["mitigation"] for rung in decided["ladder"]] == ["restart", "rollback"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"ladder": []}, "must be a list of mitigations"),
        ({"ladder": "restart"}, "must be a list of mitigations"),
        ({"ladder": ["restart", "reboot"]}, "ladder[1]: unknown mitigation 'reboot'"),
        ({"ladder": ["restart", "restart"]}, "names a mitigation twice"),
        ({"ladder": ["protect_data", "restart"]}, "ladder[1] comes after protect_data, which ends the climb"),
        ({"ladder": [{"mitigation": "rollback", "options": {"escalate": True}}]}, "rollback does not take"),
        ({"ladder": ["restart"], "mitigation": "restart"}, "its first rung is the mitigation"),
        ({"ladder": [{"options": {}}]}, "must be a mitigation name or a mapping"),
    ],
)
def test_a_bad_ladder_is_refused_naming_where(entry, message):
    services = {"relay-app": {"unit": "s.service", "alerts": {"RelayDown": entry}}}
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        incident_plan(alert("RelayDown", severity="critical"), services=services, levels=LEVELS, act_on=ACT_ON)


def test_an_operator_choosing_another_mitigation_for_a_mapped_alert_does_not_get_the_mappings_options():
    """The mapping's options belong to its mitigation: HighErrorRate's escalate=true made a rollback chosen by an
    operator fail ("rollback does not take the options ['escalate']"), and a restart's force forced a rollback."""
    assert plan(alert("HighErrorRate"), mitigation="rollback")["options"] == {"version": "", "force": False}
    assert plan(alert("HighErrorRate"), mitigation="restart")["options"] == {"escalate": True, "force": False}


def test_every_option_default_is_filled_in_and_each_value_typed():
    """The defaults are written once (module_utils/mitigations.py); -e force=true arrives as text."""
    assert plan({}, service="demo-app", incident_id="OPS-1", mitigation="memory_limit",
                options={"instances": "200"})["options"] == {"instances": 200, "value": ""}  # fmt: skip
    proxy = plan({}, service="demo-app", incident_id="OPS-1", mitigation="proxy_config")["options"]
    assert proxy == {"state": "present"}  # no proxy given: the service's own, decided by the role
    assert plan({}, service="demo-app", incident_id="OPS-1", mitigation="restart",
                options={"force": "yes"})["options"]["force"] is True  # fmt: skip


@pytest.mark.parametrize(
    ("mitigation", "options", "message"),
    [
        ("restart", {"force": "maybe"}, "option force of restart must be a boolean, got 'maybe'"),
        ("memory_limit", {"instances": "-3"}, "option instances of memory_limit must be a whole number"),
        ("config_change", {"set": "log_level=debug"}, "option set of config_change must be a dict"),
        ("rollback", {"version": ["1.0"]}, "option version of rollback must be text"),
    ],
)
def test_an_option_of_the_wrong_type_is_refused_naming_it(mitigation, options, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        plan({}, service="demo-app", incident_id="OPS-1", mitigation=mitigation, options=options)


EXAMPLE = Path(__file__).resolve().parents[4] / "inventories" / "example" / "group_vars" / "demo_app.yml"


def test_every_alert_of_the_example_inventory_plans_and_the_provider_ladder_disables_then_rolls_back():
    services = yaml.safe_load(EXAMPLE.read_text())["services"]
    for name in services["demo-app"]["alerts"]:
        decided = incident_plan(alert(name, severity="critical"), services=services, levels=LEVELS, act_on=ACT_ON)
        assert decided["act"] and decided["ladder"][0]["mitigation"] == decided["mitigation"], (name, decided)
    provider = incident_plan(alert("DemoAppProviderDown"), services=services, levels=LEVELS, act_on=ACT_ON)
    assert [rung["mitigation"] for rung in provider["ladder"]] == ["config_change", "rollback"]
    assert provider["level"] == "P1" and provider["act"], "sev-2 from the mapping acts"


def test_a_rung_the_service_cannot_run_is_refused_before_anything_runs():
    """escalate=true on a service without release_root: the restart ran and spent the window's escalation, then the
    rollback failed on an undefined release_root (review of issue 22's ladder)."""
    bare = {"demo-app": {**SERVICES["demo-app"], "release_root": "", "cache_dir": None}}
    del bare["demo-app"]["cache_manifest"]
    with pytest.raises(AnsibleFilterError, match=re.escape("rollback needs release_root in services.demo-app")):
        incident_plan(alert("HighErrorRate"), services=bare, levels=LEVELS, act_on=ACT_ON)
    with pytest.raises(AnsibleFilterError, match=re.escape("cache_purge needs cache_dir, cache_manifest")):
        incident_plan(alert("DigestVerificationFailed", severity="critical"), services=bare, levels=LEVELS,
                      act_on=ACT_ON)  # fmt: skip
    restart = incident_plan(alert(severity="critical"), services=bare, levels=LEVELS, act_on=ACT_ON)
    assert restart["act"], "a restart needs neither"


@pytest.mark.parametrize(
    ("strategy", "given", "missing"),
    [
        ("git", {"git_repo": "/srv/app"}, None),
        ("git", {}, "git_repo"),
        ("command", {"rollback_command": ["/srv/app/bin/rollback.sh"]}, None),
        ("command", {"git_repo": "/srv/app"}, "rollback_command"),
    ],
)
def test_what_a_rollback_needs_depends_on_the_services_rollback_strategy(strategy, given, missing):
    """Issue 23, item 1: a git or command rollback needs no release_root, but its own working tree or script."""
    service = {"demo-app": {**SERVICES["demo-app"], "release_root": "", "rollback_strategy": strategy, **given}}
    if missing is None:
        plan = incident_plan(alert("HighErrorRate"), services=service, levels=LEVELS, act_on=ACT_ON)
        assert [rung["mitigation"] for rung in plan["ladder"]] == ["restart", "rollback"]
    else:
        with pytest.raises(AnsibleFilterError, match=re.escape(f"rollback needs {missing} in services.demo-app")):
            incident_plan(alert("HighErrorRate"), services=service, levels=LEVELS, act_on=ACT_ON)


def test_an_unknown_rollback_strategy_is_refused_before_anything_runs():
    service = {"demo-app": {**SERVICES["demo-app"], "rollback_strategy": "docker; rm -rf /"}}
    said = "services.demo-app: rollback_strategy 'docker; rm -rf /' is not one of symlink, git, command"
    with pytest.raises(AnsibleFilterError, match=re.escape(said)):
        incident_plan(alert("HighErrorRate"), services=service, levels=LEVELS, act_on=ACT_ON)


SUPERVISOR = {
    "supervisor": {
        "unit": "supervisor.service",
        "units": ["relay.service"],
        "alerts": {
            "SupervisorDashboardDisconnected": {
                "ladder": [{"mitigation": "restart", "options": {"unit": "relay.service"}}, "restart"],
                "severity": "critical",
            },
        },
    },
}


def test_a_restart_rung_may_name_another_unit_the_service_describes():
    """Seed 002 P1-003: restart the relay, then the supervisor; each rung verified by the service's health."""
    decided = incident_plan(alert("SupervisorDashboardDisconnected"), services=SUPERVISOR, levels=LEVELS,
                            act_on=ACT_ON)  # fmt: skip
    assert decided["act"]
    assert decided["ladder"] == [
        {"mitigation": "restart", "options": {"force": False, "escalate": False, "unit": "relay.service"}},
        {"mitigation": "restart", "options": {"force": False, "escalate": False}},
    ]


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("sshd.service", "restart may only name the unit of services.supervisor or one of its units"),
        ("../relay.service", "restart may only name the unit of services.supervisor or one of its units"),
        ("", "restart may only name the unit of services.supervisor or one of its units"),
    ],
)
def test_a_restart_of_a_unit_the_service_does_not_describe_is_refused_before_anything_runs(unit, message):
    services = {"supervisor": {**SUPERVISOR["supervisor"]}}
    services["supervisor"]["alerts"] = {"Down": {"mitigation": "restart", "options": {"unit": unit}}}
    if unit.startswith(".."):  # the operator's own list is held to unit names too
        services["supervisor"]["units"] = ["relay.service", unit]
        message = f"services.supervisor.units: {unit!r} is not a systemd unit name"
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        incident_plan(alert("Down", severity="critical"), services=services, levels=LEVELS, act_on=ACT_ON)


@pytest.mark.parametrize(
    ("stability", "message"),
    [
        ({"window": "15m"}, r"services\.demo-app\.stability\.window must be whole seconds \(0 or more\), not '15m'"),
        ({"window": -60}, r"services\.demo-app\.stability\.window must be whole seconds \(0 or more\), not -60"),
        ({"window": True}, r"services\.demo-app\.stability\.window must be whole seconds \(0 or more\), not True"),
        ({"window": 900, "alerts": {"ServiceDown": "1 h"}},
         r"services\.demo-app\.stability\.alerts\.ServiceDown must be whole seconds \(0 or more\), not '1 h'"),
        ({"alerts": ["ServiceDown"]}, r"services\.demo-app\.stability\.alerts must map alert names to seconds"),
        ("15 min", r"services\.demo-app\.stability must be a mapping \(window, alerts\)"),
    ],
)  # fmt: skip
def test_a_stability_window_written_wrong_is_refused_not_taken_for_none(stability, message):
    """A window the runbook asks for, written so that it cannot be read, would silently mean no window (resolved at
    once, never watched): refused when the incident is planned, before anything acts."""
    services = {**SERVICES, "demo-app": {**SERVICES["demo-app"], "stability": stability}}
    with pytest.raises(AnsibleFilterError, match=message):
        incident_plan(alert(), services, levels=LEVELS, act_on=ACT_ON)


def test_a_stability_window_in_seconds_is_planned():
    services = {**SERVICES, "demo-app": {**SERVICES["demo-app"], "stability": {"window": 900, "alerts": {"X": 0}}}}
    assert incident_plan(alert(), services, levels=LEVELS, act_on=ACT_ON)["mitigation"] == "restart"


@pytest.mark.parametrize(
    "stability",
    [
        {"window": "600"},  # "{{ 10 * 60 }}" on ansible-core 2.17 and 2.18 renders as a string
        {"window": 600.0},
        {"window": None},  # the key written, its value left out
        {"window": 900, "alerts": None},  # every entry of alerts: commented out
        {"window": 900, "alerts": {"OtherAlert": "30m"}},  # another alert's entry: refused when that alert fires
    ],
)  # fmt: skip
def test_a_stability_window_the_reader_takes_does_not_refuse_the_incident(stability):
    """Refusing is for a window that cannot be read (incident_bookkeeping.stability_window reads these): a down
    service must not be left unrestarted over a window written "600", 600.0 or left empty."""
    services = {**SERVICES, "demo-app": {**SERVICES["demo-app"], "stability": stability}}
    assert incident_plan(alert(), services, levels=LEVELS, act_on=ACT_ON)["mitigation"] == "restart"
