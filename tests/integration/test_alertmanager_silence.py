"""alertmanager_silence through ansible-playbook against a real Alertmanager, checked with its own API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ansible_collections.incident.remediation.plugins.modules.alertmanager_silence import parse_time
from monitoring import free_port

COMMENT = "incident INC-it-1: restart of demo-app in progress"


def silence_task(alertmanager, **extra):
    return {
        "incident.remediation.alertmanager_silence": {
            "url": alertmanager.url,
            "matchers": [
                {"name": "alertname", "value": "ServiceDown"},
                {"name": "instance", "value": "web[0-9]+:8080", "regex": True},
            ],
            "comment": COMMENT,
            "duration": "1h",
            **extra,
        }
    }


def ours(alertmanager, state=None):
    return [
        s
        for s in alertmanager.silences()
        if s["comment"] == COMMENT and (state is None or s["status"]["state"] == state)
    ]


def remaining(silence) -> timedelta:
    return parse_time(silence["endsAt"]) - datetime.now(UTC)


def test_create_reuse_extend_expire(alertmanager, ansible_task):
    (checked,) = ansible_task([silence_task(alertmanager)], check=True)
    assert (checked["changed"], checked["operation"], checked["silence_id"]) == (True, "created", None)
    assert ours(alertmanager) == [], "check mode creates nothing"

    created, again = ansible_task([silence_task(alertmanager), silence_task(alertmanager)])
    assert (created["changed"], created["operation"]) == (True, "created")
    assert (again["changed"], again["operation"], again["silence_id"]) == (
        False,
        "unchanged",
        created["silence_id"],
    )
    (active,) = ours(alertmanager, "active")
    assert active["id"] == created["silence_id"]
    assert active["createdBy"] == "incident.remediation"
    assert {(m["name"], m["value"], m["isRegex"]) for m in active["matchers"]} == {
        ("alertname", "ServiceDown", False),
        ("instance", "web[0-9]+:8080", True),
    }
    assert timedelta(minutes=59) < remaining(active) <= timedelta(hours=1)

    (extended,) = ansible_task([silence_task(alertmanager, duration="3h")])
    assert (extended["changed"], extended["operation"]) == (True, "extended")
    (active,) = ours(alertmanager, "active")
    assert active["id"] == extended["silence_id"]
    assert timedelta(hours=2, minutes=59) < remaining(active) <= timedelta(hours=3)

    (shorter,) = ansible_task([silence_task(alertmanager, duration="30m")])
    assert (shorter["changed"], shorter["operation"]) == (False, "unchanged"), "never shortened"

    absent = silence_task(alertmanager, state="absent")
    del absent["incident.remediation.alertmanager_silence"]["duration"]
    (check_expire,) = ansible_task([absent], check=True)
    assert check_expire["changed"] and ours(alertmanager, "active"), "check mode expires nothing"
    expired, nothing = ansible_task([absent, absent])
    assert (expired["changed"], expired["operation"], expired["silence_ids"]) == (
        True,
        "expired",
        [active["id"]],
    )
    assert (nothing["changed"], nothing["operation"]) == (False, "none")
    assert ours(alertmanager, "active") == []
    assert {s["status"]["state"] for s in ours(alertmanager)} == {"expired"}


def test_unreachable_alertmanager_fails_clearly(ansible_task):
    url = f"http://127.0.0.1:{free_port()}"
    task = {"incident.remediation.alertmanager_silence": {"url": url, "matchers": [{"name": "a", "value": "b"}],
                                                          "comment": "x", "duration": "1m"}}  # fmt: skip
    (result,) = ansible_task([task])
    assert result["failed"]
    assert result["msg"] == f"Alertmanager: cannot reach {url}/api/v2/silences: connection refused"
