"""Alert data passed to a playbook is data: a template in a label reaches the playbook literally."""

from __future__ import annotations

import json

import pytest

from incident_remediation.extravars import dumps_unsafe, mark_unsafe, write_unsafe

INJECTION = "{{ lookup('pipe', 'touch /tmp/incident-remediation-injected; id') }}"


def test_every_string_is_wrapped_and_other_types_kept():
    assert mark_unsafe({"a": ["x", 1, 2.5, True, None, {"b": "y"}]}) == {
        "a": [{"__ansible_unsafe": "x"}, 1, 2.5, True, None, {"b": {"__ansible_unsafe": "y"}}]
    }
    with pytest.raises(TypeError, match="cannot pass a set"):
        mark_unsafe({"a": {1}})
    with pytest.raises(TypeError, match="must be a mapping"):
        dumps_unsafe(["a"])


def test_the_file_is_private(tmp_path):
    path = write_unsafe(tmp_path / "vars.json", {"a": "b"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"a": {"__ansible_unsafe": "b"}}


def test_a_label_reaches_the_playbook_literally_and_keeps_its_type(ansible_task, tmp_path):
    marker = tmp_path / "never"
    labels = {"evil": INJECTION.replace("/tmp/incident-remediation-injected", str(marker)),
              "octal": "010", "flag": "yes", "when": "2026-11-23T19:30:00Z", "uni": "é\u2028x"}  # fmt: skip
    path = write_unsafe(tmp_path / "alert.json", {"alert": {"labels": labels}})
    results = ansible_task(
        [{"ansible.builtin.debug": {"msg": "{{ alert.labels | to_json }}"}}],
        extra_vars_file=str(path),
    )
    assert json.loads(results[0]["msg"]) == labels
    assert not marker.exists(), "the lookup was never run"
