"""After the rollback: 1.0.0 running healthy with its own config, 1.1.0 marked bad and kept as evidence."""

import json


def test_current_points_at_the_last_good_release(host):
    assert host.file("/opt/demo-app/current").linked_to == "/opt/demo-app/releases/1.0.0"


def test_service_is_healthy_on_the_good_release(host):
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert (health["status"], health["version"]) == ("ready", "1.0.0")


def test_bad_release_is_marked_and_kept(host):
    marker = host.file("/opt/demo-app/releases/1.1.0/.incident-remediation-bad")
    assert marker.exists
    details = json.loads(marker.content_string)
    assert details["replaced_by"] == "1.0.0"
    assert "INC-molecule-rollback" in details["reason"]
    assert "1.1.0 never gets ready" in details["reason"], "the caller's reason is recorded"
    assert host.file("/opt/demo-app/releases/1.1.0/demo_app.py").exists


def test_config_of_the_good_release_is_restored(host):
    assert host.file("/etc/demo-app/config.yml").contains("log_level: info")
    rolled_away = host.file("/opt/demo-app/releases/1.1.0/config.rolled-back.yml")
    assert rolled_away.contains("log_level: debug"), "the config rolled away from is kept as evidence"


def test_restored_config_keeps_the_owner_group_and_mode_of_the_one_replaced(host):
    config = host.file("/etc/demo-app/config.yml")
    assert (config.user, config.group, config.mode) == ("root", "demo-app", 0o640)
    rolled_away = host.file("/opt/demo-app/releases/1.1.0/config.rolled-back.yml")
    assert (rolled_away.user, rolled_away.group, rolled_away.mode) == ("root", "root", 0o600)
