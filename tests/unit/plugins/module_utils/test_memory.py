"""The memory_limit role's decisions (seed 000, runbook 5): leak or load, the host's memory, no limit in force."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.filter.memory_limit_decision import memory_limit_decision
from ansible_collections.incident.remediation.plugins.module_utils.ladder import climb
from ansible_collections.incident.remediation.plugins.module_utils.memory import capacity, decide, leak

G = 1024**3
HOST = {"memtotal_bytes": 24 * G, "reserve_bytes": 1 * G}
LEAK_QUERY = "sum(increase(oneiric_lifecycle_swap_total[15m])) - sum(increase(oneiric_lifecycle_cleanup_total[15m]))"


def raise_to(target_gib: int, current: str = str(2 * G), **options) -> dict:
    given = {**HOST, "growth": 0.0, "leak_query": LEAK_QUERY, **options}
    return decide(current, target_gib * G, target=f"{target_gib}G", **given)


def test_real_load_is_raised():
    """Scenario C: swaps and cleanups keep step (the difference does not grow): more memory is the fix."""
    assert raise_to(12) | {"cap_bytes": None} == {"action": "apply", "change": "raised", "advice": "", "leak": False,
                                                  "cap_bytes": None, "holds": 235, "message": ""}  # fmt: skip


def test_a_leak_is_not_fed_more_memory_a_restart_is_advised():
    """Scenario A: swaps minus cleanups grew by 40 over the window: the limit is left, restart instead."""
    decision = raise_to(12, growth=40.0)
    assert decision["action"] == "refuse" and decision["advice"] == "restart" and decision["leak"] is True
    assert decision["message"].startswith("refused: a leak, not load: instances not cleaned up grew by 40 over")
    assert LEAK_QUERY in decision["message"] and "restart the service" in decision["message"]


@pytest.mark.parametrize(("growth", "is_leak"), [(5, False), (5.01, True), (-3, False), ("7", True), (None, None),
                                                 ("NaN", None), ("many", None)])  # fmt: skip
def test_leak_is_growth_above_the_threshold(growth, is_leak):
    assert leak(growth, 5) is is_leak


def test_an_unknown_growth_refuses_a_raise_unless_the_check_is_off():
    decision = raise_to(12, growth=None)
    assert decision["action"] == "refuse" and decision["advice"] == ""
    assert "cannot tell a leak from load" in decision["message"] and "memory_limit_leak_check" in decision["message"]
    assert raise_to(12, growth=None, leak_check=False)["action"] == "apply"


def test_never_beyond_what_the_host_has():
    """24 GiB of MemTotal, 1 GiB kept for the host: 23 GiB is the most; 24G is refused, with the numbers."""
    assert raise_to(22)["action"] == "apply"
    decision = raise_to(24)
    assert decision["action"] == "refuse" and decision["cap_bytes"] == 23 * G
    assert decision["message"] == (
        "refusing, nothing changed: MemoryMax=24G (25769803776 bytes, 24.0 GiB) is more than the host has to give: "
        "MemTotal 25769803776 bytes (24.0 GiB) minus the reserve 1073741824 bytes (1.0 GiB) = 24696061952 bytes "
        "(23.0 GiB); more memory is a host to resize or the load to spread"
    )
    assert raise_to(24, memtotal_bytes=None)["action"] == "apply"  # not known: the formula alone


def test_a_leak_is_said_before_the_cap():
    assert raise_to(64, growth=40.0)["advice"] == "restart"


def test_no_limit_in_force_is_not_replaced_unless_asked():
    """MemoryMax=infinity: no limit to raise; one is imposed only on an explicit value or when allowed."""
    decision = raise_to(12, current="infinity")
    assert decision["action"] == "refuse"
    assert decision["message"].startswith("refusing, nothing changed: MemoryMax is infinity (no limit in force)")
    assert "memory_limit_value" in decision["message"] and "memory_limit_allow_unlimited" in decision["message"]
    imposed = raise_to(12, current="infinity", explicit=True)
    assert (imposed["action"], imposed["change"], imposed["message"]) == ("apply", "set", "")
    assert raise_to(12, current="infinity", allow_unlimited=True)["change"] == "set"
    assert raise_to(12, current="infinity", allow_unlimited=True, growth=40.0)["advice"] == "restart"


def test_at_or_above_the_target_nothing_changes_and_lowering_needs_asking():
    assert raise_to(2)["action"] == "unchanged"
    assert raise_to(1)["action"] == "unchanged"
    lowered = raise_to(1, allow_decrease=True, growth=None)
    assert lowered["action"] == "apply" and lowered["change"] == "lowered"  # a lower limit feeds no leak


def test_a_limit_in_force_not_known_is_refused():
    assert raise_to(12, current="")["action"] == "refuse"
    assert "not known" in raise_to(12, current="12G")["message"]


def test_capacity_of_a_limit_by_the_formula():
    assert capacity(12 * G, 50, 500) == 235  # (12288 - 500) / 50
    assert capacity(2 * G, 50, 500) == 30
    assert capacity(256 * 1024**2, 50, 500) == 0


def test_the_filter_is_the_decision():
    assert memory_limit_decision("infinity", 2 * G, target="2G", explicit=True, growth=0)["change"] == "set"
    assert memory_limit_decision("157286400", "2147483648", growth="0")["action"] == "apply"


def test_a_leak_refused_climbs_the_ladder_to_the_restart():
    """The leak's refusal is a rung that did not restore the service, not a stop: the next rung (restart) runs."""
    ladder = [{"mitigation": "memory_limit", "options": {}}, {"mitigation": "restart", "options": {}}]
    message = raise_to(12, growth=40.0)["message"]
    result = {"outcome": "refused", "message": message, "steps": [{"step": "leak", "outcome": "a leak"}]}
    climbed = climb(ladder, [], "memory_limit", result, {"failed": True, "msg": message})
    assert climbed["next"] == 1 and not climbed["final"], climbed
    assert climbed["why"].startswith("memory_limit did not restore the service (refused: a leak, not load: ")
    assert climbed["why"].endswith(": trying restart")
