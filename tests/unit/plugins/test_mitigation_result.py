"""mitigation_result (an action plugin) through a real ansible-playbook: the contract's one result."""

from __future__ import annotations


def result_task(**args):
    return {"incident.remediation.mitigation_result": args}


def test_an_unchanged_run_sets_the_public_fact_and_changes_nothing(ansible_task):
    verified = [{"check": "MemoryMax", "kind": "unit", "result": "12G"}]
    first, echoed = ansible_task([
        result_task(mitigation="memory_limit", outcome="unchanged", message="already 12G", verified=verified),
        {"ansible.builtin.debug": {"var": "memory_limit_result"}},
    ])  # fmt: skip
    assert not first["changed"] and not first.get("failed")
    handed = echoed["memory_limit_result"]
    assert handed["outcome"] == "unchanged" and handed["changed"] is False and handed["verified"] == verified
    assert handed["message"] == "already 12G" and handed["check_mode"] is False


def test_a_stop_fails_carrying_the_result_and_the_rescue_hands_it_back(ansible_task):
    stop, rescued, echoed = ansible_task([
        {**result_task(mitigation="restart", outcome="refused", message="refused: budget spent", stop=True),
         "register": "stopped"},
        result_task(mitigation="restart", failure="{{ stopped }}", failed_task="Refuse",
                    steps=[{"step": "budget", "outcome": "3 restarts in 900 s"}]),
        {"ansible.builtin.debug": {"var": "restart_result"}},
    ])  # fmt: skip
    assert stop["failed"] and stop["msg"] == "refused: budget spent"
    assert not rescued.get("failed")
    handed = echoed["restart_result"]
    assert handed["outcome"] == "refused" and handed["message"] == "refused: budget spent"
    assert handed["steps"] == [{"step": "budget", "outcome": "3 restarts in 900 s"}]


def test_any_other_failure_is_failed_with_the_task_named_and_credentials_redacted(ansible_task):
    _, _, echoed = ansible_task([
        {"ansible.builtin.fail": {"msg": "GET http://u:secret@h/health\nanswered 500"}, "register": "broke"},
        result_task(mitigation="rollback", failure="{{ broke }}", failed_task="Check health"),
        {"ansible.builtin.debug": {"var": "rollback_result"}},
    ])  # fmt: skip
    handed = echoed["rollback_result"]
    assert handed["outcome"] == "failed" and "secret" not in handed["message"]
    assert "\n" not in handed["message"] and handed["message"].endswith("(task: Check health)")


def test_results_outside_the_contract_are_refused_naming_the_defect(ansible_task):
    results = ansible_task([
        result_task(mitigation="reboot", outcome="fixed"),
        result_task(mitigation="restart", outcome="done"),
        result_task(mitigation="restart", outcome="fixed", verified=[{"check": "x", "kind": "vibes", "result": "y"}]),
        result_task(mitigation="restart", outcome="unchanged", changed=True),
        result_task(mitigation="restart", outcome="fixed", stop=True),
        result_task(mitigation="restart", outcome="fixed", steps=[{"name": "x"}]),
    ])  # fmt: skip
    assert all(r["failed"] for r in results)
    assert "unknown mitigation 'reboot'" in results[0]["msg"]
    assert "done" in results[1]["msg"]
    assert "vibes" in results[2]["msg"]
    assert "cannot have changed" in results[3]["msg"]
    assert "stop is for" in results[4]["msg"]
    assert "unknown keys ['name']" in results[5]["msg"]


def test_check_mode_is_said_in_the_result(ansible_task):
    _, echoed = ansible_task(
        [result_task(mitigation="proxy_config", outcome="fixed", message="would write the drop-in"),
         {"ansible.builtin.debug": {"var": "proxy_config_result"}}],
        check=True,
    )  # fmt: skip
    assert echoed["proxy_config_result"]["check_mode"] is True
