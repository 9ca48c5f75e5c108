"""Which playbook an alert runs, on which host, with which variables: pure functions, no I/O.

A route matches an alert by name and label matchers (equality or a full-match regular
expression); the first route that matches decides. Only the labels the route lists reach
the playbook, and they reach it as data (see extravars).

Route regexes run in the receiver's event loop on values an attacker chooses, so they cannot be
Python's backtracking ``re`` (``(a+)+b`` on 4 KB of "a" never returns): they are RE2, which matches
in time linear in the value, with its program bounded when the configuration loads (MAX_PROGRAM) and
never run on a value longer than MAX_MATCHED. See compile_regex and docs/front.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import re2

from incident_remediation.webhook import Alert

MAX_MATCHED = 1024  # characters of a label value a route regex is run on; a longer value does not match
MAX_PROGRAM = 1000  # RE2 instructions a route regex may compile to ((web|api|db)\d{2} is 16; 50 host names 664)

DEFAULT_TIMEOUT = 1800.0  # seconds a job may run before it is stopped (timed_out), unless its route says


@dataclass(frozen=True)
class Route:
    name: str
    alertname: str
    playbook: str
    equal: dict[str, str] = field(default_factory=dict)
    regex: dict[str, re2._Regexp] = field(default_factory=dict)  # made by compile_regex
    severities: tuple[str, ...] = ()
    labels: tuple[str, ...] = ("instance", "severity", "service", "job")
    target_labels: tuple[str, ...] = ("instance", "host")
    hosts: dict[str, str] = field(default_factory=dict)
    mitigation: str = ""
    service: str = ""
    variables: dict = field(default_factory=dict)
    cooldown: float = 300.0
    concurrency: int = 1
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        for name, pattern in self.regex.items():
            if not isinstance(pattern, re2._Regexp):
                raise TypeError(f"route {self.name}: regex {name} must come from compile_regex, not {type(pattern)}")


def compile_regex(pattern: str) -> re2._Regexp:
    """A route's regular expression in RE2 (linear-time matching, no backtracking); ValueError names why not:
    RE2 lacks backreferences and lookaround (\\1, (?=...), (?!...)), and a program beyond MAX_PROGRAM
    instructions would make each match slow enough to stall the event loop under a flood of alerts."""
    options = re2.Options()
    options.log_errors = False  # RE2 would also write the error to stderr
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        said = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"not a regular expression RE2 accepts ({said}); RE2 has no backreferences or "
                         "lookaround, so that no pattern can backtrack on an alert's label") from None  # fmt: skip
    if compiled.programsize > MAX_PROGRAM:
        raise ValueError(f"too large: its program has {compiled.programsize} instructions, more than "
                         f"{MAX_PROGRAM} (each match would be slow): split the route, or name the values with match "
                         "or hosts")  # fmt: skip
    return compiled


@dataclass
class Decision:
    """What an alert leads to; ``trace`` says why, one line per route considered."""

    alert: Alert
    route: Route | None = None
    target: str = ""
    refused: str = ""
    trace: list[str] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        return self.route is not None and not self.refused


def why_not(route: Route, alert: Alert) -> str:
    """Empty when the route matches the alert, else the first reason it does not."""
    if route.alertname not in ("*", alert.name):
        return f"alertname {alert.name!r} is not {route.alertname!r}"
    for name, value in route.equal.items():
        if alert.labels.get(name) != value:
            return f"label {name}={alert.labels.get(name)!r}, not {value!r}"
    for name, pattern in route.regex.items():
        value = alert.labels.get(name, "")
        if len(value) > MAX_MATCHED:
            return (f"label {name} is longer than {MAX_MATCHED} characters ({len(value)}): "
                    f"not matched against /{pattern.pattern}/")  # fmt: skip
        if not pattern.fullmatch(value):
            return f"label {name}={alert.labels.get(name)!r} does not match /{pattern.pattern}/"
    return ""


def target_host(route: Route, alert: Alert) -> str:
    """The inventory host: the first target label present, mapped by ``hosts`` or with its port stripped."""
    for label in route.target_labels:
        value = alert.labels.get(label, "")
        if value:
            if value in route.hosts:
                return route.hosts[value]
            host = re.sub(r":\d+$", "", value)
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            return route.hosts.get(host, host)
    return ""


HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")
PATTERN_WORDS = {"all", "ungrouped"}


def plain_host(name: str) -> bool:
    """A host name that Ansible cannot read as a pattern (no wildcard, range, list, group keyword)."""
    return bool(HOST_NAME.match(name)) and name not in PATTERN_WORDS


def decide(alert: Alert, routes: list[Route]) -> Decision:
    decision = Decision(alert)
    for route in routes:
        reason = why_not(route, alert)
        if reason:
            decision.trace.append(f"route {route.name}: no, {reason}")
            continue
        decision.trace.append(f"route {route.name}: matches")
        decision.route = route
        severity = alert.labels.get("severity", "")
        if route.severities and severity.lower() not in route.severities:
            decision.refused = f"severity {severity!r} is not one this route acts on ({', '.join(route.severities)})"
        elif alert.status != "firing":
            decision.refused = "the alert is resolved"
        else:
            decision.target = target_host(route, alert)
            if not decision.target:
                decision.refused = f"no target host: the alert has none of the labels {list(route.target_labels)}"
            elif not plain_host(decision.target):
                decision.refused = f"target {decision.target!r} is not a host name"
        return decision
    decision.refused = "no route matches"
    return decision


def extra_vars(decision: Decision, incident_id: str) -> dict:
    """The playbook's extra variables (to be written unsafe): the route's, then the alert's own."""
    route = decision.route
    variables = dict(route.variables)
    variables["alert"] = decision.alert.as_webhook(list(route.labels))
    variables["alert_labels"] = dict(decision.alert.labels)  # the silence matches all of them, whatever route.labels
    variables["incident_id"] = incident_id
    variables["target"] = decision.target  # remediate.yml refuses to run an alert anywhere else (a group name)
    if route.mitigation:
        variables["mitigation"] = route.mitigation
    if route.service:
        variables["service"] = route.service
    return variables


def incident_id(alert: Alert) -> str:
    """The same id the incident_plan filter derives: INC-<start>-<fingerprint>."""
    stamp = re.sub(r"[^0-9TZ]", "", alert.starts_at)[:15]
    return "-".join(part for part in ("INC", stamp, alert.fingerprint[:16]) if part)
