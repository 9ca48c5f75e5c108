#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_query
short_description: Run an instant PromQL query and assert a threshold, optionally for a hold period
version_added: 0.1.0
description:
  - Runs an instant query against Prometheus' HTTP API (C(/api/v1/query)) and compares the result with
    O(threshold). With O(hold), the condition must hold continuously for that many seconds (polled every
    O(interval)); with O(wait), it has that many seconds to start holding.
  - This is how a mitigation proves its fix with the signal that paged, for example the resolution success
    rate above 0.99 for 60 seconds.
  - Without O(threshold) the module only reads the result (evidence for the diagnose phase).
  - With O(queries) it reads several named queries in one run, each once, bounded (O(timeout), O(max_series),
    O(max_text)), as a service's diagnosis queries (seed 001 0:08, the top 5 slow and erroring endpoints). A query
    that fails is recorded in its result (RV(results[].error)) beside the others; the module itself fails only
    on bad input.
  - An unreachable Prometheus or a rejected query is a failure, never a pass. Prometheus' own error text for
    a bad query is relayed.
  - Read-only, it runs the same way in check mode.
author: incident.remediation contributors
extends_documentation_fragment:
  - incident.remediation.http_api
  - incident.remediation.read_only
options:
  url:
    description:
      - Base URL of Prometheus, for example V(http://prometheus:9090). Falls back to E(PROMETHEUS_URL).
    type: str
    required: true
  query:
    description:
      - An instant PromQL query that returns a vector or a scalar. A range goes inside a function
        (C(rate(x[5m])), C(max_over_time(x[5m]))). One of O(query) and O(queries) is required.
    type: str
  queries:
    description:
      - Named read-only instant queries, each read once (no condition, no hold), instead of O(query). The labels and
        values that come back are data, capped and never templated.
      - At most 10 queries (MAX_QUERIES); names are letters, digits and C(_.-), at most 64, each given once.
    type: list
    elements: dict
    suboptions:
      name:
        description: The query's name in the results, the evidence and the report (V(top5_slowest_endpoints)).
        type: str
        required: true
      query:
        description: An instant PromQL query returning a vector or a scalar.
        type: str
        required: true
  max_series:
    description: With O(queries), the series kept per query (the first ones of the answer); the rest are counted.
    type: int
    default: 10
  max_text:
    description:
      - With O(queries), the characters kept of each label name and label value (longer ones are cut, ending in
        C(...)); at most 8 labels (MAX_LABELS) are kept per series.
    type: int
    default: 120
  comparison:
    description: How each value is compared with O(threshold). Required with O(threshold).
    type: str
    choices: ['<', '<=', '>', '>=', '==', '!=']
  threshold:
    description: The value to compare with. Leave out to only read the result.
    type: float
  hold:
    description: Seconds the condition must hold without interruption; any failing poll starts it over.
    type: float
    default: 0
  wait:
    description:
      - Seconds the condition has to start holding. Once it holds, polling continues past this deadline
        until O(hold) is reached or the condition breaks.
    type: float
    default: 0
  interval:
    description: Seconds between two queries while waiting or holding.
    type: float
    default: 5
  empty:
    description:
      - What a result with no series means.
      - V(unsatisfied) counts it as not met (keep waiting; fail at the deadline). V(fail) fails at once.
        V(satisfied) counts it as met (an error counter that does not exist yet means no errors).
        V(zero) treats it as one series with the value 0.
    type: str
    choices: [unsatisfied, fail, satisfied, zero]
    default: unsatisfied
  series:
    description: With several series, whether V(all) of them or V(any) one must meet the condition.
    type: str
    choices: [all, any]
    default: all
  match_labels:
    description:
      - Consider only the series whose labels agree with these on every label the series has (labels it
        does not have are ignored). Pass an alert's labels to scope a fleet-wide expression to that alert.
    type: dict
    default: {}
  absent:
    description:
      - The condition is that no series is left after O(match_labels), as with an alert's expression, which
        returns series only while the alert fires. Excludes O(threshold); O(hold) and O(wait) apply.
    type: bool
    default: false
  alert_rule:
    description:
      - The name of an alerting rule that must exist in Prometheus (its C(/api/v1/rules)) for the answer to mean
        anything, with static labels that agree with O(match_labels). Checked before the first query (an
        unreachable Prometheus is waited for, as for the query).
      - For O(absent) checks of C(ALERTS), an alert whose name no rule of Prometheus has (sent by another
        source, or forged) never has an C(ALERTS) series, so its absence would prove nothing. The module then
        fails at once, saying so, instead of passing vacuously.
    type: str
    default: ""
  bearer_token:
    description:
      - "Sent as C(Authorization: Bearer <token>). Never logged. Falls back to E(PROMETHEUS_BEARER_TOKEN)."
    type: str
seealso:
  - module: incident.remediation.http_health
  - name: Prometheus HTTP API
    description: The instant query endpoint this module calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries
"""

EXAMPLES = r"""
- name: Verify - resolution success rate above 0.99 for 60 s (runbook verification step)
  incident.remediation.prometheus_query:
    url: http://prometheus:9090
    query: >-
      sum(rate(demo_app_requests_total{outcome="success"}[1m]))
      / sum(rate(demo_app_requests_total[1m]))
    comparison: ">"
    threshold: 0.99
    hold: 60
    wait: 120
    interval: 5

- name: Verify - no artifact digest failures on any instance
  incident.remediation.prometheus_query:
    url: "{{ prometheus_url }}"
    query: demo_app_digest_checks_total{outcome="failed"}
    comparison: "=="
    threshold: 0
    empty: satisfied

- name: Verify - Prometheus' own ALERTS series has none of this alert (pending or firing), for 30 s
  incident.remediation.prometheus_query:
    url: "{{ prometheus_url }}"
    query: ALERTS
    match_labels: {alertname: ServiceDown, instance: "web1:8080", job: demo-app}
    absent: true
    hold: 30
    wait: 60

- name: Verify the alert is over, only if Prometheus evaluates a rule of that name (else no proof at all)
  incident.remediation.prometheus_query:
    url: "{{ prometheus_url }}"
    query: ALERTS
    match_labels: "{{ alert_labels }}"
    alert_rule: "{{ alert_labels.alertname }}"
    absent: true
    hold: 30
    wait: 60

- name: Diagnose - record the active instance count (no threshold, read only)
  incident.remediation.prometheus_query:
    url: "{{ prometheus_url }}"
    query: sum(demo_app_active_instances)
  register: instances

- name: Diagnose - the service's diagnosis queries in one run (seed 001 0:08), a failing one recorded
  incident.remediation.prometheus_query:
    url: "{{ prometheus_url }}"
    queries:
      - name: top5_slowest_endpoints
        query: >-
          topk(5, histogram_quantile(0.95,
            sum by (endpoint, le) (rate(http_request_duration_seconds_bucket[5m]))))
      - name: top5_erroring_endpoints
        query: topk(5, sum by (endpoint) (rate(http_requests_total{code=~"5.."}[5m])))
    timeout: 5
    max_series: 5
  register: diagnosis
"""

RETURN = r"""
satisfied:
  description: Whether the condition held for the hold period (always V(true) without a threshold).
  returned: always
  type: bool
  sample: true
inconclusive:
  description:
    - On failure, whether the failure proves nothing about the condition - Prometheus did not answer at the end of
      the wait, gave an answer that could not be read, or evaluates no alerting rule of O(alert_rule) - rather
      than the condition being seen unmet. The incident's escalation ladder climbs only on a condition seen unmet.
  returned: failure
  type: bool
  sample: false
value:
  description:
    - The value that decided the outcome, the first series that failed (or, with O(series=any), that passed);
      the only value for a single series or a scalar. V(null) for an empty result.
  returned: always
  type: float
  sample: 0.997
series:
  description: Every series of the last result, with its labels and value.
  returned: always
  type: list
  elements: dict
  contains:
    metric:
      description: The series' labels.
      type: dict
    value:
      description: The sample value (V(NaN) and infinities as Prometheus gives them).
      type: float
  sample: [{"metric": {"instance": "web1:8080"}, "value": 0.997}]
held_for:
  description: Seconds the condition had held at the end.
  returned: always
  type: float
  sample: 60.2
attempts:
  description: Number of queries made.
  returned: always
  type: int
elapsed:
  description: Seconds spent.
  returned: always
  type: float
rules:
  description: With O(alert_rule), the alerting rules of that name whose labels agree (group, file, expression).
  returned: when O(alert_rule) is given
  type: list
  elements: dict
  sample: [{"group": "demo", "file": "/etc/prometheus/rules.yml", "query": "up{job=\"demo\"} == 0"}]
warnings_from_prometheus:
  description: Warnings Prometheus attached to the last answer.
  returned: with O(query)
  type: list
  elements: str
results:
  description: With O(queries), one entry per query, in order.
  returned: with O(queries)
  type: list
  elements: dict
  contains:
    name:
      description: The query's name.
      type: str
    query:
      description: The query as it was sent.
      type: str
    series:
      description:
        - The first O(max_series) series, labels capped (O(max_text)); a value is a number, or the text Prometheus
          gave for one that is not finite (V(NaN), V(+Inf), V(-Inf)).
      type: list
      elements: dict
    series_total:
      description: How many series Prometheus returned.
      type: int
    truncated:
      description: Whether series were left out (more than O(max_series)).
      type: bool
    error:
      description: Why the query gave no answer (rejected, unreachable, timed out, a range result); empty when it did.
      type: str
    seconds:
      description: Seconds the query took.
      type: float
  sample:
    - name: top5_erroring_endpoints
      query: topk(5, sum by (endpoint) (rate(http_requests_total{code=~"5.."}[5m])))
      series: [{"metric": {"endpoint": "/v1/responses"}, "value": 4.2}]
      series_total: 1
      truncated: false
      error: ""
      seconds: 0.004
"""

import math
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.arguments import (
    check_positive,
    client_from_params,
    http_api_spec,
)
from ansible_collections.incident.remediation.plugins.module_utils.conditions import compare
from ansible_collections.incident.remediation.plugins.module_utils.errors import ApiError, TransportError
from ansible_collections.incident.remediation.plugins.module_utils.polling import poll
from ansible_collections.incident.remediation.plugins.module_utils.text import redact_userinfo

MAX_QUERIES = 10  # diagnosis queries of one service
MAX_LABELS = 8  # labels kept per series of a diagnosis query
_QUERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# what only a condition means: a diagnosis query is read, never judged
_CONDITION_OPTIONS = ("comparison", "threshold", "absent", "hold", "wait", "alert_rule", "match_labels")


class QueryFailed(Exception):
    """A failure that no amount of waiting fixes: a rejected query, or an empty result with empty=fail."""


def to_series(data: dict) -> list[dict]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return [{"metric": {}, "value": float(result[1])}]
    if kind == "vector":
        return [{"metric": item.get("metric", {}), "value": float(item["value"][1])} for item in result]
    hint = " (a range goes inside a function: rate(x[5m]), max_over_time(x[5m]))" if kind == "matrix" else ""
    raise QueryFailed(f"the query returned a {kind}; give an instant query that returns a vector or a scalar{hint}")


def _capped(text, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _reading(value: float, raw):
    """A value as JSON keeps it: a number, or Prometheus' own text for one that is not finite (NaN, +Inf)."""
    return value if math.isfinite(value) else str(raw)


def read_query(params: dict, client, name: str, query: str) -> dict:
    """One diagnosis query, read once: its first ``max_series`` series (labels capped) or why there is none."""
    started = time.monotonic()
    entry = {"name": name, "query": query, "series": [], "series_total": 0, "truncated": False, "error": ""}
    endpoint = params["url"].rstrip("/") + "/api/v1/query"
    try:
        # Prometheus' own evaluation timeout too, so that a heavy query stops there as well as here
        answer = client.call_json("GET", endpoint, query={"query": query, "timeout": f"{params['timeout']:g}s"})
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise QueryFailed(f"unexpected answer from Prometheus: {str(answer)[:200]}")
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        raw = [item.get("value", [0, ""])[1] for item in data.get("result") or [] if isinstance(item, dict)]
        series = to_series(data)
    except TransportError as exc:
        entry["error"] = f"cannot reach Prometheus at {redact_userinfo(params['url'])}: {exc.reason}"
    except ApiError as exc:
        said = "rejected the query" if exc.status in (400, 422) else f"answered HTTP {exc.status}"
        entry["error"] = f"Prometheus {said}: {exc.detail}"
    except QueryFailed as exc:
        entry["error"] = str(exc)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        entry["error"] = f"an answer from Prometheus that cannot be read ({type(exc).__name__})"
    else:
        limit, keep = params["max_text"], params["max_series"]
        raw = raw if len(raw) == len(series) else [s["value"] for s in series]
        entry["series_total"], entry["truncated"] = len(series), len(series) > keep
        entry["series"] = [
            {"metric": {_capped(k, limit): _capped(v, limit) for k, v in list(s["metric"].items())[:MAX_LABELS]},
             "value": _reading(s["value"], text)}
            for s, text in zip(series[:keep], raw[:keep], strict=True)
        ]  # fmt: skip
    entry["seconds"] = round(time.monotonic() - started, 3)
    return entry


def query_problem(params: dict) -> str:
    """Why the ``queries`` given cannot be run ('' when they can)."""
    given = [o for o in _CONDITION_OPTIONS if params[o] not in (None, 0, False, "", {})]
    if given:
        return ("queries are read only: leave out comparison, threshold, absent, hold, wait, alert_rule and "
                "match_labels")  # fmt: skip
    queries = params["queries"]
    if len(queries) > MAX_QUERIES:
        return f"queries: at most {MAX_QUERIES} diagnosis queries, got {len(queries)}"
    seen: set[str] = set()
    for item in queries:
        name = item["name"]
        if not _QUERY_NAME.match(name):
            return f"queries: name {name!r} must be letters, digits and _.- (at most 64)"
        if name in seen:
            return f"queries: the name {name!r} is given twice"
        if not item["query"].strip():
            return f"queries: the query of {name!r} is empty"
        seen.add(name)
    if params["max_series"] < 1 or params["max_text"] < 8:
        return "max_series must be at least 1 and max_text at least 8"
    return ""


def agrees(metric: dict, wanted: dict) -> bool:
    return all(str(wanted[name]) == value for name, value in metric.items() if name in wanted)


def evaluate(series: list[dict], params: dict) -> tuple[bool, float | None]:
    """(satisfied, deciding value) for a non-empty result."""
    if params["threshold"] is None:
        return True, series[0]["value"]
    verdicts = [
        not math.isnan(s["value"]) and compare(s["value"], params["comparison"], params["threshold"]) for s in series
    ]
    if params["series"] == "all":
        satisfied = all(verdicts)
        decider = verdicts.index(False) if not satisfied else 0
    else:
        satisfied = any(verdicts)
        decider = verdicts.index(True) if satisfied else 0
    return satisfied, series[decider]["value"]


def make_check(params: dict, client):
    endpoint = params["url"].rstrip("/") + "/api/v1/query"

    def check() -> tuple[bool, dict]:
        seen = {"series": [], "value": None, "error": "", "warnings": [], "answered": False}
        try:
            if params["alert_rule"] and check.rules is None:
                check.rules = alert_rules(params, client)  # once it is known; an unreachable Prometheus is waited for
            answer = client.call_json("GET", endpoint, query={"query": params["query"]})
        except TransportError as exc:
            seen["error"] = f"cannot reach Prometheus at {redact_userinfo(params['url'])}: {exc.reason}"
            return False, seen
        except ApiError as exc:
            if exc.status in (400, 422):
                raise QueryFailed(f"Prometheus rejected the query: {exc.detail}") from exc
            seen["error"] = f"Prometheus answered HTTP {exc.status}: {exc.detail}"
            return False, seen
        if not isinstance(answer, dict) or answer.get("status") != "success":
            seen["error"] = f"unexpected answer from Prometheus: {str(answer)[:200]}"
            return False, seen
        seen["warnings"] = answer.get("warnings", [])
        seen["answered"] = True
        seen["series"] = [s for s in to_series(answer.get("data", {})) if agrees(s["metric"], params["match_labels"])]
        if params["absent"]:
            seen["error"] = f"{len(seen['series'])} series still returned" if seen["series"] else ""
            return not seen["series"], seen
        if not seen["series"]:
            seen["error"] = "the query returned no series"
            if params["empty"] == "fail":
                raise QueryFailed(f"{seen['error']} (empty=fail)")
            if params["empty"] != "zero":
                return params["empty"] == "satisfied", seen
            seen["series"] = [{"metric": {}, "value": 0.0}]
        satisfied, seen["value"] = evaluate(seen["series"], params)
        return satisfied, seen

    check.rules = None
    return check


def alert_rules(params: dict, client) -> list[dict]:
    """The alerting rules named ``alert_rule`` whose static labels agree with ``match_labels``; fails without one."""
    name = params["alert_rule"]
    endpoint = params["url"].rstrip("/") + "/api/v1/rules"
    answer = client.call_json("GET", endpoint, query={"type": "alert"})  # errors: retried by the check
    groups = (answer.get("data") or {}).get("groups") if isinstance(answer, dict) else None
    if not isinstance(groups, list):
        raise QueryFailed(f"unexpected answer from Prometheus' rules API: {str(answer)[:200]}")
    named, found = 0, []
    for group in groups:
        for rule in (group or {}).get("rules") or []:
            if not isinstance(rule, dict) or rule.get("type") != "alerting" or rule.get("name") != name:
                continue
            named += 1
            # a templated label ({{ $labels.x }}) is only known once the rule fires: it cannot disagree
            labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items() if "{{" not in str(v)}
            if agrees(labels, params["match_labels"]):
                found.append({"group": str(group.get("name", "")), "file": str(group.get("file", "")),
                              "query": str(rule.get("query", ""))})  # fmt: skip
    if not found:
        why = (f"its {named} rule(s) of that name have labels that disagree with {params['match_labels']}"
               if named else "it has no alerting rule of that name")  # fmt: skip
        raise QueryFailed(
            f"Prometheus does not evaluate alert {name!r} ({why}): an alert Prometheus does not evaluate never has an "
            "ALERTS series, so its absence proves nothing. Was the alert sent by another source, or is the rule "
            "missing from Prometheus?"
        )
    return found


def describe_failure(params: dict, outcome) -> str:
    seen = outcome.last
    if params["absent"]:
        scope = f" matching {params['match_labels']}" if params["match_labels"] else ""
        condition = f"no series from {params['query']}{scope}"
    else:
        condition = f"{params['query']} {params['comparison']} {params['threshold']:g}"
    if params["hold"]:
        condition += f" for {params['hold']:g} s"
    if seen["error"]:
        last = seen["error"] + (f": {seen['series'][0]['metric']}" if params["absent"] and seen["series"] else "")
    else:
        labels = [s["metric"] for s in seen["series"] if s["value"] == seen["value"]][:1]
        last = f"value {seen['value']:g}" + (f" of {labels[0]}" if labels and labels[0] else "")
    return (
        f"condition not met: {condition} (within {params['wait']:g} s); last seen: {last}; "
        f"longest hold {outcome.longest_hold:.1f} s after {outcome.attempts} queries in {outcome.elapsed:.1f} s"
    )


def main() -> None:
    spec = http_api_spec(url_env="PROMETHEUS_URL", token_env="PROMETHEUS_BEARER_TOKEN")
    spec.update(
        query={"type": "str"},
        queries={
            "type": "list",
            "elements": "dict",
            "options": {"name": {"type": "str", "required": True}, "query": {"type": "str", "required": True}},
        },
        max_series={"type": "int", "default": 10},
        max_text={"type": "int", "default": 120},
        comparison={"type": "str", "choices": ["<", "<=", ">", ">=", "==", "!="]},
        threshold={"type": "float"},
        hold={"type": "float", "default": 0},
        wait={"type": "float", "default": 0},
        interval={"type": "float", "default": 5},
        empty={
            "type": "str",
            "choices": ["unsatisfied", "fail", "satisfied", "zero"],
            "default": "unsatisfied",
        },
        series={"type": "str", "choices": ["all", "any"], "default": "all"},
        match_labels={"type": "dict", "default": {}},
        absent={"type": "bool", "default": False},
        alert_rule={"type": "str", "default": ""},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_together=[("comparison", "threshold")],
        required_one_of=[("query", "queries")],
        mutually_exclusive=[("query", "queries")],
    )
    params = module.params
    check_positive(module, "hold", "wait", "interval", "timeout")
    if params["queries"] is not None:
        problem = query_problem(params)
        if problem:
            module.fail_json(msg=problem)
        client = client_from_params(params)
        results = [read_query(params, client, q["name"], q["query"]) for q in params["queries"]]
        failed = sum(1 for r in results if r["error"])
        said = f"{len(results)} diagnosis queries read" + (f", {failed} without an answer" if failed else "")
        module.exit_json(changed=False, results=results, msg=said)
    if not params["query"].strip():
        module.fail_json(msg="query is empty")
    if params["absent"] and params["threshold"] is not None:
        module.fail_json(msg="absent=true is a condition of its own: leave out comparison and threshold")
    if params["threshold"] is None and not params["absent"] and (params["hold"] or params["wait"]):
        module.fail_json(msg="hold and wait need a condition: give comparison and threshold")
    client = client_from_params(params)
    check = make_check(params, client)
    try:
        outcome = poll(check, wait=params["wait"], interval=params["interval"], hold=params["hold"])
    except QueryFailed as exc:
        module.fail_json(msg=str(exc), query=params["query"], satisfied=False, inconclusive=True)
    seen = outcome.last
    result = {
        "changed": False,
        "satisfied": outcome.satisfied,
        "value": seen["value"],
        "series": seen["series"],
        "held_for": round(outcome.held_for, 3),
        "attempts": outcome.attempts,
        "elapsed": round(outcome.elapsed, 3),
        "warnings_from_prometheus": seen["warnings"],
    }
    if params["alert_rule"]:
        result["rules"] = check.rules or []
    if not outcome.satisfied:
        # Prometheus not answered at the end: the condition is not known to be unmet, only not proved
        result["inconclusive"] = not seen.get("answered")
        if params["threshold"] is None and not params["absent"]:
            module.fail_json(msg=seen["error"], **result)
        module.fail_json(msg=describe_failure(params, outcome), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
