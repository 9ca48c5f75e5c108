# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident_phase: enter one of the incident's phases, with the bookkeeping that goes with it.

Runs in the controller's worker (no module run). Documentation: plugins/modules/incident_phase.py.
Returns the timeline's events explicitly (``incident_event``), read by the incident_timeline callback.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.module_utils.host_evidence import version_spec
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import proved
from ansible_collections.incident.remediation.plugins.module_utils.notify import from_task as notify
from ansible_collections.incident.remediation.plugins.module_utils.text import redact
from ansible_collections.incident.remediation.plugins.plugin_utils.evidence import write_files
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import (
    PHASES,
    diagnosis_files,
    diagnosis_queries,
    expire_silence,
    failure_class,
    quarantine_decision,
    status,
)

ARGUMENTS = {
    "phase": {"type": "str", "required": True, "choices": list(PHASES)},
    "plan": {"type": "dict"},
    "services": {"type": "dict", "default": {}},
    "prometheus_url": {"type": "str", "default": ""},
    "alertmanager_url": {"type": "str", "default": ""},
    "evidence_dir": {"type": "str", "default": ""},
    "host": {"type": "dict"},
    "quarantine_dir": {"type": "str", "default": ""},
    "alert_state": {"type": "dict", "default": {}},
    "diagnosis_queries": {"type": "dict", "default": {}},  # prometheus_query's answer to the service's queries
    "journal_lines": {"type": "int", "default": 0},
    "dmesg_lines": {"type": "int", "default": 0},
    "lease": {"type": "dict"},
    "result": {"type": "dict"},
    "failure": {"type": "raw"},
    "silence_on_failure": {"type": "str", "default": "keep", "choices": ["keep", "expire"]},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        task_vars = task_vars or {}
        phase = args["phase"]
        host_name = task_vars.get("inventory_hostname", "?")
        facts: dict = {"incident_phase": phase}
        events: list[dict] = [{"event": "phase", "phase": phase}]
        plan = args["plan"] if args["plan"] is not None else task_vars.get("incident_plan")
        if not isinstance(plan, dict) or not plan.get("id"):
            return {
                **result,
                "failed": True,
                "msg": f"incident_phase {phase}: no incident plan (plan, or the fact incident_plan)",
            }
        service = task_vars.get("_incident_service") or {}
        msg = f"incident {plan['id']}: {phase}"
        if phase == "acknowledge":
            if args["plan"] is None:
                return {**result, "failed": True, "msg": "incident_phase acknowledge: plan is required"}
            service = (args["services"] or {}).get(plan.get("service"))
            if not isinstance(service, dict):
                said = f"incident_phase: service {plan.get('service')!r} is not described in services"
                return {**result, "failed": True, "msg": said}
            # an option can be a URL with credentials (an operator's proxy): a fact of an action is kept in the
            # job's events and ansible-runner's fact cache, so the plan keeps them redacted; the mitigation's
            # mapping takes the values themselves from its inputs (roles/incident/tasks/mitigations/proxy_config.yml)
            plan = dict(plan)
            if "options" in plan:
                plan["options"] = redact(plan["options"])
            if "ladder" in plan:
                plan["ladder"] = [{**rung, "options": redact(rung.get("options") or {})} for rung in plan["ladder"]]
            facts.update(self._acknowledge(args, plan, service, host_name))
            try:  # where the running version is read, before (acknowledge's read) and after (verify's)
                facts["_incident_version"] = version_spec(service)
            except ValueError as exc:
                return {**result, "failed": True, "msg": f"incident_phase: services.{plan.get('service')}: {exc}"}
            events.append({"event": "incident", "data": plan})
            msg = f"incident {plan['id']}, {plan.get('service')} on {host_name}: {plan.get('decision')}"
            facts, msg = self._notify(task_vars, "acknowledge", plan, facts, msg)
        elif phase == "diagnose" and args["host"] is not None:
            plan, facts, msg = self._diagnose(args, plan, facts, events, result=result, task_vars=task_vars)
        elif phase == "resolve" and args["lease"] and not args["lease"].get("acquired"):
            # the unit's lease (acknowledge's read took it): held by another mitigation past the wait, or unusable
            lease = args["lease"]
            said = lease.get("msg") or f"the lease of {service.get('unit', '?')} was not taken"
            return {**result, "failed": True, "acquired": False, "waited_for": lease.get("waited_for"), "msg": said}
        elif phase == "verify":
            mitigation = args["result"] or {}
            facts["_incident_check_health"] = not proved(mitigation, "health")
            facts["_incident_check_queries"] = not proved(mitigation, "queries")
            facts["_incident_check_unit"] = not proved(mitigation, "unit") and not proved(mitigation, "health")
            skipped = [kind for kind in ("health", "queries", "unit") if not facts[f"_incident_check_{kind}"]]
            msg += f" (proved by the mitigation, not again: {', '.join(skipped)})" if skipped else ""
        elif phase == "close":
            klass = failure_class(args["failure"], args["result"]) if plan.get("act") else ""
            state = status(bool(plan.get("act")), bool(self._task.check_mode), klass)
            facts["_incident_status"] = state
            facts["_incident_expire_silence"] = expire_silence(
                state, klass, args["silence_on_failure"], mitigation=str((args["result"] or {}).get("mitigation") or "")
            )
            msg += f": {state}"
        return {**result, "changed": False, "ansible_facts": facts, "incident_event": events, "msg": msg}

    def _diagnose(self, args: dict, plan: dict, facts: dict, events: list, *, result: dict, task_vars: dict):
        """The decision the host read allows, the incident channel told, and the evidence kept (never failing)."""
        service = task_vars.get("_incident_service") or {}
        unit = service.get("unit", "?")
        decision = quarantine_decision(plan, args["host"], unit, args["quarantine_dir"])
        if decision:
            plan = {**plan, "act": False, "decision": decision}
            facts["incident_plan"] = plan
            events.insert(0, {"event": "incident", "data": plan})
        host_name = task_vars.get("inventory_hostname", "?")
        msg = f"incident {plan['id']}, {plan.get('service')} on {host_name}: {plan.get('decision')}"
        queries = diagnosis_queries(service, args["diagnosis_queries"])  # seed 001 0:08, posted with the decision
        told = {"host": args["host"], "queries": queries}
        facts, msg = self._notify(task_vars, "decision", plan, facts, msg, data=told)
        files = diagnosis_files(plan, args["host"], args["alert_state"], unit=unit, journal_lines=args["journal_lines"],
                                dmesg_lines=args["dmesg_lines"], queries=queries)  # fmt: skip
        saved = write_files(f"{task_vars.get('_incident_evidence', '.')}/diagnose", files,
                            check_mode=bool(self._task.check_mode))  # fmt: skip
        result["warnings"] = saved.pop("warnings", [])
        result["saved"] = {**saved, "diagnosis_queries": queries} if queries else saved  # to the outcome (close.yml)
        return plan, facts, msg

    def _notify(self, task_vars: dict, event: str, plan: dict, facts: dict, msg: str, *, data=None) -> tuple[dict, str]:
        """The incident channel (docs/notifications.md): posted, recorded in a fact, never failing the task."""
        sent = notify(task_vars, self._templar.template, event, plan, data, check_mode=bool(self._task.check_mode))
        return {**facts, **sent.facts}, msg + sent.said

    @staticmethod
    def _acknowledge(args: dict, plan: dict, service: dict, host_name: str) -> dict:
        evidence_dir = args["evidence_dir"] or "~/.incident-remediation/incidents"
        return {
            "incident_plan": plan,
            "_incident_service": service,
            "_incident_evidence": f"{evidence_dir}/{plan['id']}/{host_name}",
            "_incident_prometheus_url": args["prometheus_url"] or service.get("prometheus_url") or "",
            "_incident_alertmanager_url": args["alertmanager_url"] or service.get("alertmanager_url") or "",
            "_incident_silence_comment": f"incident {plan['id']}: {plan.get('mitigation')} by incident.remediation",
            "_incident_started": datetime.now(timezone.utc).isoformat(),
            "_incident_failure": {},
            "_incident_failed_task": "",
            # the escalation ladder, rung by rung (incident_rung); the last rung's result is the incident's
            "_incident_ladder": {"next": 0 if plan.get("ladder") else None, "why": "", "climbed": []},
            "_incident_result": {},
        }
