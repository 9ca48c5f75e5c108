# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: incident_plan
short_description: Decide what an incident run does - service, mitigation, options, severity and whether to act
version_added: 0.1.0
description:
  - The decision the C(incident) role takes in its acknowledge phase, as one pure function so that it is
    tested without a host and explained in one sentence in the run's output and timeline.
  - "The service: O(service), else the alert's C(service) label when it names a described service, else the
    only service whose C(alerts) map has the alert's name, else the only service described."
  - "The mitigation: O(mitigation), else the one the service's C(alerts) map gives the alert's name. An alert
    no mapping knows gets none: the run diagnoses only, and says so."
  - "Acting: an operator run (no alert) acts unless O(diagnose_only). An alert acts only when its severity
    (the C(severity) label, else the mapping's) is one of O(act_on) once translated by O(levels): the runbooks'
    P0-P3 and SEV-1..4 ladders. Anything else, including an unknown severity, diagnoses and waits for an operator."
  - Alert label values are kept as data; nothing here renders them as templates.
author: incident.remediation contributors
positional: _input
options:
  _input:
    description:
      - One alert as Alertmanager's webhook sends it (C(labels), C(annotations), C(startsAt), C(fingerprint),
        C(generatorURL), C(status)), or an empty dict for an operator run.
    type: dict
    required: true
  incident_id:
    description:
      - The incident id (letters, digits, C(._:-), at most 128 characters).
      - Empty to derive it from the alert, C(INC-<start>-<fingerprint>), the same for every run about that alert.
    type: str
    default: ""
  services:
    description: The inventory's C(services) mapping, name to description.
    type: dict
    required: true
  service:
    description: The service to act on; empty to find it from the alert.
    type: str
    default: ""
  mitigation:
    description: The mitigation to run; empty to take it from the service's C(alerts) map.
    type: str
    default: ""
  options:
    description: Mitigation options given by the operator, over those of the alert mapping.
    type: dict
    default: {}
  levels:
    description: Severity names (lower case) to levels, for example C(critical) to V(P0) and C(sev-2) to V(P1).
    type: dict
    default: {}
  act_on:
    description: The levels that may act without an operator.
    type: list
    elements: str
    default: []
  diagnose_only:
    description: Never act, whatever the severity.
    type: bool
    default: false
  alert_labels:
    description:
      - The alert's whole label set, when the alert given carries only some of its labels (a route of the
        receiver passes the playbook only the labels it lists, plus C(alertname)). The silence matches every
        one of these labels, and the alert's series in Prometheus are scoped by them, so that a route passing
        only C(severity) does not silence that alert on every host.
      - Empty to use the alert's own labels. Every label of the alert must have the same value here.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    _incident: >-
      {{ alert | incident.remediation.incident_plan(incident_id='INC-1', services=services,
         levels={'critical': 'P0', 'warning': 'P2'}, act_on=['P0', 'P1']) }}
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    id: {description: The incident id., type: str}
    service: {description: The service's name in C(services)., type: str}
    mitigation: {description: "The mitigation role, or empty when there is none.", type: str}
    options:
      description:
        - The mitigation's options (the mapping's, then the operator's), each default filled in and each value
          typed (C(force=true) given as text is the boolean V(true)).
        - The defaults are written once, in C(plugins/module_utils/mitigations.py).
      type: dict
    ladder:
      description:
        - The escalation ladder, each rung a C(mitigation) and its C(options), first tried first; the first rung is
          O(mitigation) with its options. A service maps an alert to a ladder with C(ladder) (a list of mitigation
          names or mappings with C(mitigation) and C(options)) instead of C(mitigation). An operator naming the
          mitigation gets a ladder of that one mitigation. A restart with the option C(escalate) has C(rollback) as
          its second rung (unless the ladder has one). Empty without a mitigation.
      type: list
      elements: dict
    severity: {description: "The severity as given (label, mapping or V(operator)).", type: str}
    level: {description: Its level (V(P0)..V(P3)) or V(unknown)., type: str}
    act: {description: Whether the run may change anything., type: bool}
    decision: {description: "Why, in one sentence.", type: str}
    alert:
      description:
        - The alert's name, labels (as given), all_labels (its whole label set, O(alert_labels) or its labels),
          annotations, fingerprint, start, status and expression.
        - "C(expression) is taken from C(generatorURL), which the sender writes: it is evidence only, never a proof.
          Whether the alert is over is read from Prometheus' own C(ALERTS) series, scoped by C(all_labels)."
      type: dict
    silence_matchers:
      description: Equality matchers on every label of the alert's whole label set (empty without an alert).
      type: list
"""

from urllib.parse import parse_qs, urlsplit

from ansible.errors import AnsibleFilterError
from ansible_collections.incident.remediation.plugins.module_utils.incident_id import INCIDENT_ID, from_alert
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import (
    FINAL,
    MITIGATIONS,
    ResultError,
    complete_options,
    service_needs,
)
from ansible_collections.incident.remediation.plugins.module_utils.names import is_unit_name


def _fail(message: str):
    raise AnsibleFilterError(f"incident_plan: {message}")


def alert_expression(generator_url: str) -> str:
    """The PromQL expression of a Prometheus alert, from its generatorURL (``...graph?g0.expr=...``)."""
    values = parse_qs(urlsplit(generator_url or "").query).get("g0.expr", [])
    return values[0] if values else ""


def _alert(alert: dict) -> dict:
    labels = alert.get("labels") or {}
    if not isinstance(labels, dict) or not isinstance(alert.get("annotations") or {}, dict):
        _fail("the alert's labels and annotations must be mappings")
    if "alertname" not in labels:
        _fail("the alert has no alertname label")
    return {
        "name": str(labels["alertname"]),
        "labels": {str(k): str(v) for k, v in labels.items()},
        "annotations": {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()},
        "fingerprint": str(alert.get("fingerprint") or ""),
        "starts_at": str(alert.get("startsAt") or ""),
        "status": str(alert.get("status") or "firing"),
        "generator_url": str(alert.get("generatorURL") or ""),
        "expression": alert_expression(str(alert.get("generatorURL") or "")),
    }


def _whole_labels(parsed: dict, given) -> dict:
    """The alert's whole label set: ``given`` (checked against the labels the alert carries), else its labels."""
    if not given:
        return dict(parsed["labels"])
    if not isinstance(given, dict):
        _fail(f"alert_labels must be a mapping of label names to values, got {type(given).__name__}")
    whole = {str(k): str(v) for k, v in given.items()}
    differ = sorted(k for k, v in parsed["labels"].items() if whole.get(k) != v)
    if differ:
        _fail(f"the alert's labels {differ} differ from its whole label set (alert_labels): not the same alert")
    return whole


def _route(entry, where: str) -> dict:
    if isinstance(entry, str):
        entry = {"mitigation": entry}
    if not isinstance(entry, dict):
        _fail(f"{where} must be a mitigation name or a mapping with mitigation (or ladder), options, severity")
    unknown = set(entry) - {"mitigation", "options", "severity", "ladder"}
    if unknown:
        _fail(f"{where} has unknown keys {sorted(unknown)} (allowed: mitigation, options, severity, ladder)")
    if "ladder" in entry:
        if "mitigation" in entry or "options" in entry:
            _fail(f"{where} has a ladder: its first rung is the mitigation (give mitigation and options in the rungs)")
        rungs = entry["ladder"]
        if not isinstance(rungs, list) or not rungs:
            _fail(f"{where}.ladder must be a list of mitigations, first tried first")
        ladder = [_rung(rung, f"{where}.ladder[{number}]") for number, rung in enumerate(rungs)]
        names = [rung["mitigation"] for rung in ladder]
        rungs_on = [(rung["mitigation"], rung["options"].get("unit")) for rung in ladder]  # a restart of another unit
        if len(set(rungs_on)) != len(rungs_on):
            _fail(f"{where}.ladder names a mitigation twice for the same unit ({names}): a rung that did not help is "
                  "not tried again")  # fmt: skip
        final = next((number for number, name in enumerate(names) if name in FINAL), len(names) - 1)
        if final < len(names) - 1:
            _fail(f"{where}.ladder[{final + 1}] comes after {names[final]}, which ends the climb (it stops the "
                  "service on purpose and pages people): it would never run; make it the last rung")  # fmt: skip
        return {**entry, "mitigation": ladder[0]["mitigation"], "options": ladder[0]["options"], "ladder": ladder}
    return entry


def _rung(rung, where: str) -> dict:
    """One rung of an escalation ladder: a mitigation and its options."""
    if isinstance(rung, str):
        rung = {"mitigation": rung}
    if not isinstance(rung, dict) or set(rung) - {"mitigation", "options"} or "mitigation" not in rung:
        _fail(f"{where} must be a mitigation name or a mapping with mitigation and options")
    name = str(rung["mitigation"])
    if name not in MITIGATIONS:
        _fail(f"{where}: unknown mitigation {name!r} (one of {', '.join(MITIGATIONS)})")
    return {"mitigation": name, "options": _options(name, rung.get("options") or {}, {})}


def _service(services: dict, given: str, alert: dict) -> str:
    if given:
        if given not in services:
            _fail(f"service {given!r} is not described in inventory (services: {sorted(services)})")
        return given
    label = alert.get("labels", {}).get("service", "")
    if label in services:
        return label
    if alert:
        mapped = [name for name, desc in services.items() if alert["name"] in (desc.get("alerts") or {})]
        if len(mapped) == 1:
            return mapped[0]
        if len(mapped) > 1:
            _fail(f"alert {alert['name']} is mapped by several services {mapped}: give a service label or service=")
    if len(services) == 1:
        return next(iter(services))
    _fail(f"cannot tell which service this is about: give service= (one of {sorted(services)})")
    return ""


def _options(mitigation: str, route_options, given) -> dict:
    """The mapping's options, then the operator's, every default filled in and each value typed."""
    for where, value in (("the alert mapping's options", route_options), ("options", given)):
        if not isinstance(value, dict):
            _fail(f"{where} must be a mapping, got {type(value).__name__}")
    options = {**route_options, **given}
    if not mitigation:
        return options
    try:
        return complete_options(mitigation, options)
    except ResultError as exc:
        _fail(str(exc))
    return {}


def _check_unit(service: dict, name: str, rung: dict) -> None:
    """A rung naming a unit (restart's ``unit``) names the service's unit or one of its ``units``, never another."""
    if "unit" not in rung["options"]:
        return
    units = service.get("units") or []
    if not isinstance(units, list):
        _fail(f"services.{name}.units must be a list of systemd unit names, got {type(units).__name__}")
    for unit in units:
        if not is_unit_name(unit):
            _fail(f"services.{name}.units: {unit!r} is not a systemd unit name")
    if rung["options"]["unit"] not in [service.get("unit"), *units]:
        _fail(f"{rung['mitigation']} may only name the unit of services.{name} or one of its units "
              f"({', '.join(map(str, [service.get('unit'), *units]))}), not {rung['options']['unit']!r}")  # fmt: skip


def _seconds(value) -> bool:
    """Whole seconds as the window's reader (incident_bookkeeping.stability_window) takes them: an int, an integral
    float, or digits (a template renders a string on ansible-core before 2.19); None is no window."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer() and value >= 0
    return (isinstance(value, int) and value >= 0) or (isinstance(value, str) and value.strip().isdigit())


def _check_stability(service: dict, name: str, alertname: str) -> None:
    """The runbook's "monitor for N minutes" (docs/incident-flow.md, The stability window): written so that it
    cannot be read, it would silently mean no window at all, resolved at once and never watched. Only what this
    incident reads is checked: the service's window and this alert's own entry."""
    stability = service.get("stability")
    where = f"services.{name}.stability"
    if stability is None:
        return
    if not isinstance(stability, dict):
        _fail(f"{where} must be a mapping (window, alerts), not {stability!r}")
    if not _seconds(stability.get("window")):
        _fail(f"{where}.window must be whole seconds (0 or more), not {stability['window']!r}: e.g. 900 for 15 min")
    alerts = stability.get("alerts") or {}
    if not isinstance(alerts, dict):
        _fail(f"{where}.alerts must map alert names to seconds, not {alerts!r}")
    if alertname in alerts and not _seconds(alerts[alertname]):
        _fail(
            f"{where}.alerts.{alertname} must be whole seconds (0 or more), not {alerts[alertname]!r}: e.g. 1800 "
            "for 30 min"
        )


def _decide(alert: dict, mitigation: str, level: str, act_on: list, diagnose_only: bool) -> tuple[bool, str]:
    if diagnose_only:
        return False, "diagnose only, as asked"
    if not mitigation:
        return False, f"diagnose only: no mitigation is mapped to alert {alert.get('name')}; an operator decides"
    if not alert:
        return True, f"act: {mitigation} asked by an operator"
    if level in act_on:
        return True, f"act: {mitigation} for {alert['name']}, severity {level} may act automatically"
    allowed = ", ".join(act_on) or "none"
    return False, (
        f"diagnose only: severity {level} of {alert['name']} may not act automatically "
        f"(automatic levels: {allowed}); an operator decides whether to run {mitigation}"
    )


def incident_plan(  # noqa: PLR0917 (a filter's keyword arguments are positional in Python)
    alert,
    services,
    incident_id="",
    service="",
    mitigation="",
    options=None,
    levels=None,
    act_on=None,
    diagnose_only=False,
    alert_labels=None,
):
    if not isinstance(alert, dict):
        _fail(f"the alert must be a mapping (one alert of the webhook payload), got {type(alert).__name__}")
    if not isinstance(services, dict) or not services:
        _fail("no services are described in inventory (services.NAME.unit, health_url, ...)")
    parsed = _alert(alert) if alert else {}
    if parsed:
        parsed["all_labels"] = _whole_labels(parsed, alert_labels)
    incident_id = str(incident_id or "") or from_alert(alert)
    if not INCIDENT_ID.match(incident_id):
        _fail(
            f"incident id {incident_id!r} must be letters, digits and ._:- (at most 128); an alert without a "
            "fingerprint needs incident_id"
        )
    name = _service(services, str(service or ""), parsed)
    route = {}
    if parsed:
        entry = (services[name].get("alerts") or {}).get(parsed["name"])
        route = _route(entry, f"services.{name}.alerts.{parsed['name']}") if entry is not None else {}
    chosen = str(mitigation or route.get("mitigation") or "")
    if chosen and chosen not in MITIGATIONS:
        _fail(f"unknown mitigation {chosen!r} (one of {', '.join(MITIGATIONS)})")
    severity = (parsed["labels"].get("severity") or str(route.get("severity") or "")) if parsed else "operator"
    level = (levels or {}).get(severity.lower(), "unknown") if parsed else "operator"
    act, decision = _decide(parsed, chosen, level, list(act_on or []), bool(diagnose_only))
    # the mapping's options are its mitigation's: an operator choosing another one does not get them
    route_options = (route.get("options") or {}) if chosen == route.get("mitigation") else {}
    options = _options(chosen, route_options, options or {})
    # the escalation ladder: the route's rungs when the mitigation is the route's, else the one mitigation
    ladder = route.get("ladder") if chosen and not mitigation and route.get("ladder") else []
    ladder = [{"mitigation": chosen, "options": options}, *ladder[1:]] if chosen else []
    if chosen == "restart" and options.get("escalate") and "rollback" not in [r["mitigation"] for r in ladder]:
        # escalate=true, as operators have always given it: roll back when the restart does not help
        ladder.insert(1, {"mitigation": "rollback", "options": _options("rollback", {}, {})})
    if ladder:  # what watches the fix: read before anything acts (a diagnosis alone has no window)
        _check_stability(services[name], name, parsed.get("name", ""))
    for rung in ladder:  # refused now, not after a rung before it acted and spent the window's escalation
        _check_unit(services[name], name, rung)
        try:
            needs = service_needs(rung["mitigation"], services[name])
        except ResultError as exc:
            _fail(f"services.{name}: {exc}, so {rung['mitigation']} cannot run there")
        missing = [key for key in needs if not services[name].get(key)]
        if missing:
            _fail(f"{rung['mitigation']} needs {', '.join(missing)} in services.{name}, which has none: add it, or "
                  f"leave {rung['mitigation']} out of what this incident tries")  # fmt: skip
    return {
        "id": str(incident_id),
        "service": name,
        "mitigation": chosen,
        "options": options,
        "ladder": ladder,
        "severity": severity or "unknown",
        "level": level,
        "act": act,
        "decision": decision,
        "alert": parsed,
        "silence_matchers": [{"name": k, "value": v} for k, v in sorted(parsed.get("all_labels", {}).items())],
    }


class FilterModule:
    def filters(self):
        return {"incident_plan": incident_plan}
