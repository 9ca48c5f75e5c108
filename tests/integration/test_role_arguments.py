"""Role variables of the wrong type or range fail at argument validation, before any task runs.

Each role is included on localhost with one bad variable beside its required ones; the play fails on
"Validating arguments against arg spec" and no task of the role runs (so nothing can change).
"""

from __future__ import annotations

import pytest
from role_runs import REQUIRED, run_role

BAD = [
    ("restart", {"restart_budget_max": "three"}, "restart_budget_max"),
    ("restart", {"restart_health_expect": ["status", "ready"]}, "restart_health_expect"),
    ("restart", {"restart_force": "perhaps"}, "restart_force"),
    ("rollback", {"rollback_health_timeout": "soon"}, "rollback_health_timeout"),
    ("cache_purge", {"cache_purge_tamper_threshold": [1]}, "cache_purge_tamper_threshold"),
    ("cache_purge", {"cache_purge_allow_tampered": "after lunch"}, "cache_purge_allow_tampered"),
    ("memory_limit", {"memory_limit_instances": "many"}, "memory_limit_instances"),
    ("proxy_config", {"proxy_config_state": "maybe"}, "proxy_config_state"),
    ("config_change", {"config_change_set": "not a mapping"}, "config_change_set"),
    ("config_change", {"config_change_apply": "reboot"}, "config_change_apply"),
    ("incident", {"incident_verify_hold": "long"}, "incident_verify_hold"),
    ("incident", {"incident_act_on": "P0"}, None),  # a string becomes a one-item list: allowed, not a crash
    ("incident", {"incident_silence_on_failure": "forget"}, "incident_silence_on_failure"),
]


@pytest.mark.parametrize(("role", "bad", "named"), BAD, ids=[f"{r}-{next(iter(b))}" for r, b, _ in BAD])
def test_a_wrong_variable_fails_validation_before_any_task(tmp_path, role, bad, named):
    rc, ran = run_role(tmp_path, role, {**REQUIRED[role], **bad})
    if named is None:
        assert not ran or "argument" not in str(ran[0].get("msg", "")).lower(), ran[0]
        return
    assert rc != 0
    (only,) = ran  # the validation, and no task after it
    assert "Validating arguments against arg spec" in only["task"] and only.get("failed"), only
    assert named in only["msg"], only["msg"]
