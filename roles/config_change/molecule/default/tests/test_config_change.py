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


def test_the_config_and_its_backups_keep_owner_group_and_mode(host):
    """A config holding secrets (root:demo-app 0640) stays so through the change, its backups and the revert."""
    names = host.check_output("ls /etc/demo-app/").split()
    backups = [f"/etc/demo-app/{name}" for name in names if name.startswith("config.yml.") and name.endswith("~")]
    assert len(backups) >= 2, names
    for path in ["/etc/demo-app/config.yml", *backups]:
        found = host.file(path)
        assert (path, found.user, found.group, found.mode) == (path, "root", "demo-app", 0o640)
