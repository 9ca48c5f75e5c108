"""The escalation ladder's decisions (plugins/module_utils/ladder.py)."""

from __future__ import annotations

from ansible_collections.incident.remediation.plugins.module_utils.ladder import climb, next_rung, rung_record

LADDER = [{"mitigation": "restart", "options": {}}, {"mitigation": "rollback", "options": {}}]


def failed(name, outcome="failed", message="health did not come back"):
    return rung_record(name, {"outcome": outcome, "message": message}, restored=False)


def test_the_first_rung_comes_first_and_a_restored_service_stops_the_climb():
    assert next_rung(LADDER, [])["next"] == 0
    done = next_rung(LADDER, [rung_record("restart", {"outcome": "fixed", "message": "ok"}, restored=True)])
    assert done == {"next": None, "why": "restart restored the service"}


def test_a_rung_that_did_not_restore_the_service_climbs_to_the_next_and_says_why():
    decided = next_rung(LADDER, [failed("restart")])
    assert decided == {"next": 1, "why": "restart did not restore the service (failed: health did not come back): "
                                         "trying rollback"}  # fmt: skip
    # a budget spent is a refusal of that rung, not of the ladder: the next rung is the escalation
    assert next_rung(LADDER, [failed("restart", "refused", "refused: restart budget exhausted")])["next"] == 1
    # a restart that changed nothing and still did not pass verify is not a restored service either
    unchanged = rung_record("restart", {"outcome": "unchanged", "message": "healthy"}, False, "the alert still fires")
    assert next_rung(LADDER, [unchanged])["next"] == 1
    assert "(unchanged: the alert still fires)" in next_rung(LADDER, [unchanged])["why"]


def test_the_climb_ends_at_the_top_and_never_passes_a_security_stop():
    top = next_rung(LADDER, [failed("restart"), failed("rollback", message="target broken too")])
    assert top["next"] is None and top["why"].endswith("(failed: target broken too), and no rung is left")
    security = next_rung(LADDER, [failed("restart", "security", "SECURITY: 5 artifacts tampered")])
    assert security["next"] is None and "suspected tampering" in security["why"]
    assert next_rung([], []) == {"next": None, "why": "no mitigation to try"}


def test_a_rung_without_a_result_is_a_failure_named_as_such():
    record = rung_record("restart", None, restored=False)
    assert record["outcome"] == "failed" and record["message"] == "no result handed back"


def test_climb_records_the_rung_and_says_whether_it_was_the_last():
    fixed = {"outcome": "fixed", "message": "rolled back and healthy", "steps": [{"step": "switch"}]}
    first = climb(LADDER, [], "restart", {"outcome": "failed", "message": "not healthy"}, {"msg": "not healthy"},
                  reason="not healthy (task: Check that health came back)")  # fmt: skip
    assert first["next"] == 1 and not first["final"] and first["climbed"][0]["restored"] is False
    assert first["climbed"][0]["reason"] == "not healthy (task: Check that health came back)"
    second = climb(LADDER, first["climbed"], "rollback", fixed, {})
    assert second["final"] and second["next"] is None and second["why"] == "rollback restored the service"
    assert second["climbed"][1] == {
        "mitigation": "rollback",
        "outcome": "fixed",
        "message": "rolled back and healthy",
        "restored": True,
        "reason": "",
        "stop": False,
        "steps": [{"step": "switch"}],
    }


def test_an_escalation_refused_stops_the_climb_whatever_rungs_are_left():
    ladder = [*LADDER, {"mitigation": "cache_purge", "options": {}}]
    first = climb(ladder, [], "restart", {"outcome": "failed"}, {"msg": "not healthy"}, reason="not healthy")
    refused = {"msg": "refused: ..., and already escalated in the last 15 min", "escalation_refused": True}
    second = climb(ladder, first["climbed"], "rollback", {}, refused, reason="already escalated in the last 15 min")
    assert second["final"] and second["next"] is None, second
    assert second["climbed"][1]["outcome"] == "refused" and second["climbed"][1]["stop"] is True
    assert second["why"] == "rollback: already escalated in the last 15 min: no further rung is tried", second


def test_a_verify_that_proved_nothing_either_way_stops_the_climb():
    """Prometheus unreachable, or no rule of the alert's name: the restart may well have fixed the service, and a
    forced rollback on that would make things worse (and spend the window's escalation)."""
    unknown = {"msg": "cannot reach Prometheus at http://p:9090", "inconclusive": True}
    done = climb(LADDER, [], "restart", {"outcome": "fixed", "message": "ready"}, unknown, reason=unknown["msg"])
    assert done["final"] and done["next"] is None, done
    assert (
        done["climbed"][0]["outcome"] == "fixed" and done["climbed"][0]["stop"] and not done["climbed"][0]["restored"]
    )
    assert "cannot reach Prometheus" in done["why"] and "no further rung is tried" in done["why"]


def test_a_refusal_is_not_said_twice():
    refused = rung_record("restart", {"outcome": "refused", "message": "refused: restart budget exhausted"}, False,
                          "refused: restart budget exhausted (3 in the last 15 min)")  # fmt: skip
    assert "(refused: restart budget exhausted (3 in the last 15 min))" in next_rung(LADDER, [refused])["why"]


def test_the_alert_still_firing_after_the_services_own_checks_passed_climbs_no_further():
    """The restart storm on e2e: DemoAppDown still in ALERTS 8 s after a restart proved healthy (its for:) made
    every restart climb to a forced rollback. The service's own checks decide; the alert lags them."""
    firing = {"msg": "condition not met: no series from ALERTS ...; last seen: 1 series still returned",
              "satisfied": False, "inconclusive": False,
              "invocation": {"module_args": {"query": "ALERTS", "absent": True}}}  # fmt: skip
    done = climb(LADDER, [], "restart", {"outcome": "fixed", "message": "ready"}, firing, reason=firing["msg"])
    assert done["final"] and done["climbed"][0]["stop"], done
    queries = {**firing, "invocation": {"module_args": {"query": "rate(x[1m])", "absent": False}}}
    assert climb(LADDER, [], "restart", {"outcome": "fixed"}, queries, reason="below")["next"] == 1, "its own query"
    health = {"msg": "not healthy", "invocation": {"module_args": {"url": "http://h/health"}}}
    assert climb(LADDER, [], "restart", {"outcome": "fixed"}, health, reason="not healthy")["next"] == 1
