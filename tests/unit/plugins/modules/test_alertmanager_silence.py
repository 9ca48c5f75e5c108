"""alertmanager_silence's decisions and its HTTP calls, spelled out against a fake Alertmanager API.

The real Alertmanager is in tests/integration/test_alertmanager_silence.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.incident.remediation.plugins.modules import alertmanager_silence as module

MATCHERS = [{"name": "alertname", "value": "ServiceDown"}, {"name": "instance", "value": "web1:8080"}]
COMMENT = "incident INC-1: restart in progress"


def existing(ends_in: timedelta, comment=COMMENT, state="active", silence_id="s-1"):
    now = datetime.now(UTC)
    return {
        "id": silence_id,
        "status": {"state": state},
        "matchers": [
            {"name": "instance", "value": "web1:8080", "isRegex": False, "isEqual": True},
            {"name": "alertname", "value": "ServiceDown", "isRegex": False, "isEqual": True},
        ],
        "startsAt": module.format_time(now - timedelta(minutes=5)),
        "endsAt": module.format_time(now + ends_in),
        "comment": comment,
        "createdBy": "someone",
    }


def args(server, **extra):
    return {"url": server.url_for("/"), "matchers": MATCHERS, "comment": COMMENT, "duration": "2h", **extra}


def posted(server) -> list[dict]:
    return [json.loads(req.data) for req, _ in server.log if req.method == "POST"]


def test_creates_when_none_matches(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json(
        [existing(timedelta(hours=2), comment="another incident")]
    )
    httpserver.expect_request("/api/v2/silences", method="POST").respond_with_json({"silenceID": "new-1"})
    failed, result = run_module(module, args(httpserver))
    assert not failed
    assert (result["changed"], result["operation"], result["silence_id"]) == (True, "created", "new-1")
    (body,) = posted(httpserver)
    assert body["comment"] == COMMENT and body["createdBy"] == "incident.remediation"
    assert "id" not in body
    assert {m["name"]: (m["value"], m["isRegex"], m["isEqual"]) for m in body["matchers"]} == {
        "alertname": ("ServiceDown", False, True),
        "instance": ("web1:8080", False, True),
    }
    length = module.parse_time(body["endsAt"]) - module.parse_time(body["startsAt"])
    assert timedelta(hours=2) - timedelta(seconds=5) < length <= timedelta(hours=2)


def test_reuses_an_active_silence_that_lasts_long_enough(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json(
        [existing(timedelta(hours=2) - timedelta(seconds=30))]
    )
    failed, result = run_module(module, args(httpserver))
    assert not failed
    assert (result["changed"], result["operation"], result["silence_id"]) == (False, "unchanged", "s-1")
    assert posted(httpserver) == []


def test_extends_one_that_would_end_too_soon(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json([existing(timedelta(minutes=10))])
    httpserver.expect_request("/api/v2/silences", method="POST").respond_with_json({"silenceID": "s-2"})
    failed, result = run_module(module, args(httpserver))
    assert not failed
    assert (result["changed"], result["operation"], result["silence_id"]) == (True, "extended", "s-2")
    (body,) = posted(httpserver)
    assert body["id"] == "s-1"


def test_expired_silences_do_not_count(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json(
        [existing(timedelta(hours=5), state="expired")]
    )
    httpserver.expect_request("/api/v2/silences", method="POST").respond_with_json({"silenceID": "new-1"})
    assert run_module(module, args(httpserver))[1]["operation"] == "created"


def test_check_mode_reports_and_changes_nothing(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json([])
    failed, result = run_module(module, args(httpserver), check_mode=True)
    assert not failed
    assert (result["changed"], result["operation"], result["silence_id"]) == (True, "created", None)
    assert [req.method for req, _ in httpserver.log] == ["GET"]


def test_absent_expires_every_match(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json(
        [
            existing(timedelta(hours=1), silence_id="a"),
            existing(timedelta(hours=1), silence_id="b", state="pending"),
        ]
    )
    httpserver.expect_request("/api/v2/silence/a", method="DELETE").respond_with_data("")
    httpserver.expect_request("/api/v2/silence/b", method="DELETE").respond_with_data("")
    failed, result = run_module(module, args(httpserver, state="absent", duration=None))
    assert not failed
    assert (result["changed"], result["operation"], result["silence_ids"]) == (True, "expired", ["a", "b"])


def test_absent_with_nothing_to_expire_is_unchanged(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json([])
    failed, result = run_module(module, args(httpserver, state="absent", duration=None), check_mode=True)
    assert not failed and (result["changed"], result["operation"]) == (False, "none")


def test_api_error_is_relayed(httpserver, run_module):
    httpserver.expect_request("/api/v2/silences", method="GET").respond_with_json([])
    httpserver.expect_request("/api/v2/silences", method="POST").respond_with_data(
        "silence invalid: invalid label matcher 0: invalid label name", status=400
    )
    failed, result = run_module(module, args(httpserver))
    assert failed
    assert "answered HTTP 400: silence invalid: invalid label matcher" in result["msg"]


def test_unreachable_alertmanager(run_module):
    failed, result = run_module(
        module, {"url": "http://127.0.0.1:9", "matchers": MATCHERS, "comment": COMMENT, "duration": "1h"}
    )
    assert failed and result["msg"].startswith("Alertmanager: cannot reach http://127.0.0.1:9/api/v2/silences")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"duration": "soon"}, "duration 'soon' is not a positive number"),
        ({"duration": "0s"}, "is not a positive number"),
        ({"duration": None, "ends_at": "tomorrow"}, "'tomorrow' is not an ISO 8601 time"),
        ({"duration": None, "ends_at": "2001-01-01T00:00:00Z"}, "is in the past"),
        ({"duration": None}, "state is present but any of the following are missing: duration, ends_at"),
        ({"comment": None}, "state is present but all of the following are missing: comment"),
        ({"matchers": []}, "matchers is empty"),
        ({"matchers": [{"name": "job", "value": "(", "regex": True}]}, "not a valid regular expression"),
    ],
)
def test_bad_arguments_fail_before_any_call(run_module, extra, message):
    base = {"url": "http://127.0.0.1:9", "matchers": MATCHERS, "comment": COMMENT, "duration": "1h"}
    failed, result = run_module(module, {**base, **extra})
    assert failed and message in result["msg"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)]
)
def test_durations(text, seconds):
    assert module.parse_duration(text).total_seconds() == seconds


def test_times_from_alertmanager_parse_with_nanoseconds_and_offsets():
    assert module.parse_time("2026-11-23T18:00:00.123456789Z") == datetime(2026, 11, 23, 18, 0, 0, 123456, tzinfo=UTC)
    assert module.parse_time("2026-11-23T19:00:00+01:00") == datetime(2026, 11, 23, 18, tzinfo=UTC)
