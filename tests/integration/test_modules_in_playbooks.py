"""http_health, artifact_digest and the memory_max filter as a user's playbook runs them."""

from __future__ import annotations

import hashlib
import json


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_http_health_waits_for_ready(exporter, ansible_task):
    exporter.health = (503, {"status": "starting"})
    task = {
        "incident.remediation.http_health": {
            "url": f"{exporter.url}/health",
            "expect_json": {"status": "ready"},
            "wait": 1,
            "interval": 0.2,
        }
    }
    (unhealthy,) = ansible_task([task])
    assert unhealthy["failed"] and unhealthy["healthy"] is False
    assert 'status = "starting" (expected "ready")' in unhealthy["msg"]
    exporter.health = (200, {"status": "ready", "version": "1.0.0"})
    healthy, checked = ansible_task([task, task], check=False), ansible_task([task], check=True)[0]
    assert healthy[0]["healthy"] and healthy[0]["json"]["version"] == "1.0.0"
    assert checked["healthy"] and checked["changed"] is False


def test_artifact_digest_reports_and_refuses(tmp_path, ansible_task):
    root = tmp_path / "cache"
    root.mkdir()
    (root / "a.bin").write_bytes(b"good")
    (root / "b.bin").write_bytes(b"corrupted")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"a.bin": sha(b"good"), "b.bin": sha(b"b")}))
    escape = tmp_path / "escape.yml"
    escape.write_text(f"../manifest.json: {sha(b'x')}\n")
    results = ansible_task(
        [
            {"incident.remediation.artifact_digest": {"root": str(root), "manifest": str(manifest)}},
            {"incident.remediation.artifact_digest": {"root": str(root), "manifest": str(escape)}},
        ]
    )
    assert results[0]["ok"] == ["a.bin"]
    assert [c["path"] for c in results[0]["corrupted"]] == ["b.bin"]
    assert results[0]["changed"] is False
    assert results[1]["failed"] and "'..' is refused" in results[1]["msg"]


def test_memory_max_filter_in_a_template(ansible_task):
    results = ansible_task(
        [
            {"ansible.builtin.debug": {"msg": "MemoryMax={{ 200 | incident.remediation.memory_max }}"}},
            {"ansible.builtin.debug": {"msg": "{{ -3 | incident.remediation.memory_max }}"}},
        ]
    )
    assert results[0]["msg"] == "MemoryMax=12G"
    assert results[1]["failed"] and "must be a finite number >= 0" in results[1]["msg"]
