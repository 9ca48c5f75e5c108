"""The running process has the proxy settings, and the service is healthy again."""

import json


def test_running_process_has_the_proxy_environment(host):
    pid = host.check_output("systemctl show -p MainPID --value demo-app.service")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        assert f"{name}=http://proxy.internal.test:3128" in environ
    assert "NO_PROXY=localhost,127.0.0.1,.svc.internal.test" in environ


def test_service_is_ready(host):
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert health["status"] == "ready" and health["reasons"] == []


def test_dropin_is_the_only_change(host):
    dropin = host.file("/etc/systemd/system/demo-app.service.d/50-incident-remediation-proxy.conf")
    assert dropin.mode == 0o644 and dropin.user == "root"
    assert dropin.content_string.count("Environment=") == 6
