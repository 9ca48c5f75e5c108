"""The webhook payload's validation and the routing decisions: pure functions, no server."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.incident_id import (
    from_alert as incident_id_from_alert,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from incident_remediation.errors import PayloadError
from incident_remediation.routing import Route, compile_regex, decide, extra_vars, incident_id, target_host
from incident_remediation.webhook import parse_alert, parse_payload, parse_webhook


def raw_alert(**labels):
    return {"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": "web1:8080", **labels},
            "annotations": {"summary": "down"}, "startsAt": "2026-11-23T19:30:00.5Z", "endsAt": "",
            "generatorURL": "http://p/graph?g0.expr=up", "fingerprint": "0A1b2C3d"}  # fmt: skip


def payload(*alerts, **top):
    return json.dumps({"version": "4", "status": "firing", "receiver": "r", "alerts": list(alerts), **top})


def test_a_payload_parses_into_alerts():
    (alert,) = parse_payload(payload(raw_alert()))
    assert (alert.name, alert.status, alert.fingerprint) == ("DemoAppDown", "firing", "0a1b2c3d")
    assert alert.as_webhook(["instance"])["labels"] == {"alertname": "DemoAppDown", "instance": "web1:8080"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "the body is not JSON"),
        (b"\xff\xfe", 400, "the body is not JSON"),
        ("[]", 422, "the payload must be a JSON object"),
        (json.dumps({"version": "3", "alerts": [raw_alert()]}), 422, "unsupported payload version '3'"),
        (payload(), 422, "alerts must be a non-empty list"),
        (json.dumps({"version": "4", "alerts": {"a": 1}}), 422, "alerts must be a non-empty list"),
        (payload("x"), 422, "alerts[0] must be an object"),
        (payload({**raw_alert(), "status": "open"}), 422, "alerts[0].status must be 'firing' or 'resolved'"),
        (payload({**raw_alert(), "labels": {"instance": "a"}}), 422, "alerts[0].labels has no alertname"),
        (payload(raw_alert(code=500)), 422, "alerts[0].labels.code must be a string, got int"),
        (payload({**raw_alert(), "labels": {"alertname": "A", "bad-name": "x"}}), 422, "is not a label name"),
        (payload({**raw_alert(), "fingerprint": "../x"}), 422, "fingerprint must be Alertmanager's hexadecimal"),
        (payload({**raw_alert(), "fingerprint": "0a1b\n"}), 422, "fingerprint must be Alertmanager's hexadecimal"),
        (payload({**raw_alert(), "labels": {"alertname": "A", "a\n": "x"}}), 422, "is not a label name"),
        (payload({**raw_alert(), "annotations": ["a"]}), 422, "alerts[0].annotations must be an object"),
        (payload({**raw_alert(), "startsAt": 5}), 422, "alerts[0].startsAt must be a string"),
        (payload(raw_alert(big="x" * 5000)), 422, "longer than 4096"),
        (payload(*[raw_alert()] * 1001), 422, "more than 1000 alerts"),
    ],
)
def test_bad_payloads_name_the_first_problem(body, status, message):
    with pytest.raises(PayloadError, match=re.escape(message)) as caught:
        parse_payload(body)
    assert caught.value.status == status


# JSON bombs under the body limit: each is refused with a PayloadError naming the problem, never a RecursionError
# (a 500, which Alertmanager retries until the alert expires) and never a slow parse.
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"a":' * 100_000 + "1" + "}" * 100_000, 400, "nested deeper than 64 levels"),  # 600 KB, the one seen
        ("[" * 100_000 + "]" * 100_000, 400, "nested deeper than 64 levels"),
        ('{"version": "4", "alerts": [' + "[" * 65 + "]" * 65 + "]}", 400, "nested deeper than 64 levels"),
        (payload({**raw_alert(), "annotations": {"a": json.loads('{"b":' * 60 + "1" + "}" * 60)}}), 422,
         "alerts[0].annotations.a must be a string, got dict"),
        (payload(raw_alert(**{f"l{i}": "x" for i in range(20_000)})), 422,
         "alerts[0].labels has more than 256 entries (20002)"),
        (payload({**raw_alert(), "annotations": {f"a{i}": "" for i in range(300)}}), 422,
         "alerts[0].annotations has more than 256 entries (300)"),
        (payload(raw_alert(big="\\u0000" * 100_000)), 422, "alerts[0].labels.big is longer than 4096"),
    ],
)  # fmt: skip
def test_json_bombs_are_refused_naming_the_problem(body, status, message):
    with pytest.raises(PayloadError, match=re.escape(message)) as caught:
        parse_webhook(body)
    assert caught.value.status == status


def test_nesting_at_the_limit_is_parsed_and_ignored_where_nothing_reads_it():
    deep = json.loads("[" * 60 + "]" * 60)
    (alert,) = parse_payload(payload(raw_alert(), commonLabels=deep))
    assert alert.name == "DemoAppDown"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_is_parsed_or_refused_cleanly(data):
    with contextlib.suppress(PayloadError):
        parse_payload(json.dumps({"version": "4", "alerts": [data]}))


ROUTES = [
    Route(name="warn", alertname="DemoAppDown", playbook="p.yml", equal={"env": "staging"}),
    Route(
        name="down",
        alertname="DemoAppDown",
        playbook="incident.remediation.remediate",
        mitigation="restart",
        regex={"instance": compile_regex(r"web\d+:\d+")},
        severities=("critical",),
        labels=("instance", "evil"),
        variables={"options": {"escalate": True}},
    ),
    Route(name="any", alertname="*", playbook="diag.yml", target_labels=("host",), hosts={"10.0.0.5": "web5"}),
]


def test_the_first_matching_route_decides_and_explains_the_others():
    decision = decide(parse_alert(raw_alert(severity="critical")), ROUTES)
    assert decision.runs and decision.route.name == "down" and decision.target == "web1"
    assert decision.trace == ["route warn: no, label env=None, not 'staging'", "route down: matches"]


def test_refusals_say_why():
    assert decide(parse_alert(raw_alert(severity="warning")), ROUTES).refused == (
        "severity 'warning' is not one this route acts on (critical)")  # fmt: skip
    assert decide(parse_alert({**raw_alert(severity="critical"), "status": "resolved"}), ROUTES).refused == (
        "the alert is resolved")  # fmt: skip
    other = parse_alert({**raw_alert(), "labels": {"alertname": "Other"}})
    assert decide(other, ROUTES).refused == "no target host: the alert has none of the labels ['host']"
    assert decide(other, ROUTES[:2]).refused == "no route matches"
    for pattern in ("a b;rm -rf /", "all", "ungrouped", "web*", "web[1:3]", "a,b", "!web1", "a&b"):
        odd = parse_alert({**raw_alert(), "labels": {"alertname": "Other", "host": pattern}})
        assert decide(odd, ROUTES).refused == f"target {pattern!r} is not a host name"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"instance": "web1:9100"}, "web1"),
        ({"host": "10.0.0.5"}, "web5"),
        ({"instance": "10.0.0.5:80"}, "web5"),
        ({"instance": "db.example.com"}, "db.example.com"),
    ],
)
def test_target_host(labels, expected):
    route = Route(name="r", alertname="*", playbook="p", hosts={"10.0.0.5": "web5"})
    assert target_host(route, parse_alert({**raw_alert(), "labels": {"alertname": "A", **labels}})) == expected


def test_only_the_routes_labels_reach_the_playbook():
    alert = parse_alert(raw_alert(severity="critical", evil="{{ lookup('pipe', 'id') }}", token="s3cr3t"))
    variables = extra_vars(decide(alert, ROUTES), incident_id(alert))
    assert variables["alert"]["labels"] == {"alertname": "DemoAppDown", "instance": "web1:8080",
                                            "evil": "{{ lookup('pipe', 'id') }}"}  # fmt: skip
    assert variables["incident_id"] == "INC-20261123T193000-0a1b2c3d" and variables["target"] == "web1"
    assert (variables["mitigation"], variables["options"]) == ("restart", {"escalate": True})


# The receiver names the incident before the job runs (its folder, the journal); the incident_plan filter
# derives the same name when an operator gives remediate.yml an alert without one. They must agree.
@settings(max_examples=300, deadline=None)
@given(
    starts_at=st.text(max_size=40) | st.datetimes().map(lambda t: t.isoformat() + "Z"),
    fingerprint=st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=64),
)
def test_the_receiver_and_the_playbook_derive_the_same_incident_id(starts_at, fingerprint):
    raw = {**raw_alert(), "startsAt": starts_at, "fingerprint": fingerprint}
    assert incident_id(parse_alert(raw)) == incident_id_from_alert(raw)


def test_the_group_comes_with_the_alerts_as_strings():
    body = {"version": "4", "receiver": "remediate", "groupKey": '{}:{alertname="A"}', "alerts": [raw_alert()]}
    alerts, group = parse_webhook(json.dumps(body))
    assert len(alerts) == 1 and group == {"receiver": "remediate", "groupKey": '{}:{alertname="A"}'}
    _, group = parse_webhook(json.dumps({**body, "receiver": {"x": 1}, "groupKey": None}))
    assert group == {"receiver": "", "groupKey": ""}
