"""The demo service runs under real systemd on the test host and answers ready."""

import json


def test_systemd_is_pid_1_and_the_system_is_running(host):
    assert host.check_output("cat /proc/1/comm") == "systemd"
    assert host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")


def test_unit_is_active_and_enabled(host):
    service = host.service("demo-app")
    assert service.is_running
    assert service.is_enabled
    assert host.check_output("systemctl show -p User --value demo-app") == "demo-app"


def test_deployment_layout(host):
    assert host.file("/opt/demo-app/current").linked_to == "/opt/demo-app/releases/1.0.0"
    assert host.file("/opt/demo-app/releases/1.0.0/config.yml").exists
    assert host.file("/etc/demo-app/config.yml").contains("startup_seconds")
    manifest = host.file("/var/cache/demo-app/manifest.sha256").content_string.splitlines()
    assert len(manifest) == 6
    # every artifact in the cache matches its manifest digest
    assert host.run("cd /var/cache/demo-app && sha256sum --check --quiet manifest.sha256").rc == 0


def test_health_says_ready(host):
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert health["status"] == "ready"
    assert health["version"] == "1.0.0"


def test_metrics_are_prometheus_text(host):
    metrics = host.check_output("curl -sS http://127.0.0.1:8080/metrics")
    assert "# TYPE demo_app_requests_total counter" in metrics
    assert 'demo_app_cache_artifacts{state="verified"} 6' in metrics
