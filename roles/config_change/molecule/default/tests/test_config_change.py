"""The broken provider is disabled in the config; the service answers every request; backups are kept."""

import json


def test_config_has_the_change_and_keeps_the_rest(host):
    config = host.file("/etc/demo-app/config.yml").content_string
    assert "log_level: debug" in config
    assert "concurrency: 0" not in config, "the invalid value was reverted"
    lines = [line for line in config.splitlines() if not line.startswith(" ")]
    assert lines.index("port: 8080") < lines.index("providers:"), "key order is kept"


def test_every_request_succeeds(host):
    codes = [host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/").stdout for _ in range(6)]
    assert codes == ["200"] * 6
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert health["status"] == "ready"


def test_timestamped_backups_are_kept(host):
    backups = host.check_output("ls /etc/demo-app/").split()
    assert len([name for name in backups if name.startswith("config.yml.") and name.endswith("~")]) >= 2
