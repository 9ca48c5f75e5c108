"""Route regexes cannot hang the receiver's event loop: they are RE2 (linear time, no backtracking), bounded in
size when the configuration loads, and never run on a label value longer than routing.MAX_MATCHED."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from incident_remediation.config import load
from incident_remediation.errors import ConfigError
from incident_remediation.routing import MAX_MATCHED, MAX_PROGRAM, decide
from incident_remediation.webhook import parse_alert

ROUTE = {"name": "down", "alertname": "DemoAppDown", "playbook": "incident.remediation.remediate"}
# Each of these backtracks for years on 4 KB of "a" in Python's re (exponential or high-polynomial)
CATASTROPHIC = [r"(a+)+b", r"(a|aa)*c", r"(a|a?)+b", r"(.*a){12}b", r"(\w+\s?)*!"]


def config(tmp_path, **match_regex):
    path = tmp_path / "remediate.yml"
    path.write_text(yaml.safe_dump({"routes": [{**ROUTE, "match_regex": match_regex}]}))
    return path


def alert(instance: str):
    return parse_alert({"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": instance},
                        "fingerprint": "abc"})  # fmt: skip


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_pattern_decides_a_4_kb_value_at_once(tmp_path, pattern):
    """In a child process with a deadline: on Python's re the decision never returns (the child is killed)."""
    script = (
        "import sys; from incident_remediation.config import load; from incident_remediation.routing import decide;"
        "from incident_remediation.webhook import parse_alert;"
        f"routes = load({str(config(tmp_path, instance=pattern))!r}).routes;"
        "a = parse_alert({'status': 'firing', 'labels': {'alertname': 'DemoAppDown', 'instance': 'a' * 4096},"
        " 'fingerprint': 'abc'}); b = parse_alert({'status': 'firing', 'labels': {'alertname': 'DemoAppDown',"
        " 'instance': 'a' * 1024}, 'fingerprint': 'abc'});"
        "print(decide(a, routes).refused, '|', decide(b, routes).refused)"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10
    assert done.stdout.strip() == "no route matches | no route matches", done.stdout


def test_matching_1000_values_of_1_kb_with_a_catastrophic_pattern_takes_milliseconds(tmp_path):
    routes = load(config(tmp_path, instance=r"(a+)+b")).routes
    alerts = [alert("a" * (MAX_MATCHED - i)) for i in range(1000)]
    started = time.perf_counter()
    assert not any(decide(one, routes).runs for one in alerts)
    assert time.perf_counter() - started < 1.0


def test_a_value_longer_than_the_bound_is_not_matched_and_the_trace_says_why(tmp_path):
    routes = load(config(tmp_path, instance=r"a+")).routes
    assert decide(alert("a" * MAX_MATCHED), routes).route.name == "down"
    decision = decide(alert("a" * (MAX_MATCHED + 1)), routes)
    assert decision.route is None
    assert decision.trace == [f"route down: no, label instance is longer than {MAX_MATCHED} characters "
                              "(1025): not matched against /a+/"]  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a)\1", "not a regular expression RE2 accepts (invalid escape sequence: \\1)"),
        (r"(?=web)\w+", "not a regular expression RE2 accepts (invalid perl operator: (?=)"),
        (r"web(?!1)\d", "not a regular expression RE2 accepts (invalid perl operator: (?!)"),
        ("(", "not a regular expression RE2 accepts (missing ): ()"),
        (r"(abc|def){300}", "too large: its program has 2404 instructions"),
        ("[a-z]{1001}", "not a regular expression RE2 accepts (invalid repetition size: {1001})"),
    ],
)
def test_patterns_re2_refuses_or_too_large_are_refused_when_the_configuration_loads(tmp_path, pattern, problem):
    path = config(tmp_path, instance=pattern)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert (caught.value.source, caught.value.key) == (str(path), "routes[down].match_regex.instance")
    assert caught.value.problem.startswith(problem), caught.value.problem


def test_the_program_bound_is_said_with_its_limit(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(config(tmp_path, instance=r"(abc|def){300}"))
    assert f"instructions, more than {MAX_PROGRAM} (each match would be slow)" in caught.value.problem


def test_ordinary_patterns_mean_what_they_meant(tmp_path):
    routes = load(config(tmp_path, instance=r"app[0-9]+\.example\.com:8080", job="(?i)demo.*")).routes
    assert routes[0].regex["instance"].pattern == r"app[0-9]+\.example\.com:8080"
    ok = parse_alert({"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": "app12.example.com:8080",
                                                     "job": "Demo-app"}, "fingerprint": "abc"})  # fmt: skip
    assert decide(ok, routes).route.name == "down"
    assert decide(alert("app12.example.com:80800"), routes).route is None, "a full match, as before"
    assert json.dumps(decide(alert("x"), routes).trace)  # the trace is text


def test_a_route_takes_only_compiled_re2_patterns():
    import re  # noqa: PLC0415

    from incident_remediation.routing import Route, compile_regex  # noqa: PLC0415

    with pytest.raises(TypeError, match="must come from compile_regex"):
        Route(name="r", alertname="A", playbook="p", regex={"instance": re.compile(r"(a+)+b")})
    assert Route(name="r", alertname="A", playbook="p", regex={"instance": compile_regex(r"(a+)+b")})
