"""The service runs under the raised limit, and the kernel enforces it."""

import json


def test_systemd_applies_the_computed_limit(host):
    # 6 instances x 50 MB + 500 MB = 800 MB, rounded up to a multiple of 2G
    assert host.check_output("systemctl show -p MemoryMax --value demo-app.service") == str(2 * 1024**3)
    dropin = host.file("/etc/systemd/system/demo-app.service.d/50-incident-remediation-memory.conf")
    assert "MemoryMax=2G" in dropin.content_string
    assert "6 instances x 50 MB + 500 MB" in dropin.content_string


def test_service_is_ready_with_all_its_instances(host):
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert health["status"] == "ready"
    metrics = host.check_output("curl -sS http://127.0.0.1:8080/metrics")
    assert "demo_app_active_instances 6" in metrics


def test_kernel_enforces_the_limit(host):
    pid = host.check_output("systemctl show -p MainPID --value demo-app.service")
    cgroup = host.check_output(f"cat /proc/{pid}/cgroup")
    memory_path = next(line.split(":", 2)[2] for line in cgroup.splitlines() if ":memory:" in line)
    limit = host.check_output(f"cat /sys/fs/cgroup/memory{memory_path}/memory.limit_in_bytes")
    assert int(limit) == 2 * 1024**3
