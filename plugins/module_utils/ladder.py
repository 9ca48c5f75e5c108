# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The escalation ladder: which rung an incident tries next, and why (docs/mitigation-contract.md).

A service maps an alert to an ordered list of mitigations (the plan's ``ladder``). Each rung is verified; the
next is tried only when the one before did not restore the service, and never past a security stop. Every rung
after the first takes the window's one escalation from the unit's budget on the host (restart_budget with
escalation=true): a flapping alert climbs once per window, then is refused.
"""

from __future__ import annotations

import itertools

from ansible_collections.incident.remediation.plugins.module_utils.mitigations import FINAL


def rung_record(mitigation: str, result, restored: bool, reason: str = "", *, stop: bool = False) -> dict:
    """What one rung did, as the report shows it: the mitigation's outcome and message, and the verify's verdict.

    ``stop``: no rung may be tried after this one (the window's one escalation is spent, or what it did was not
    proved either way), whatever it did.
    """
    result = result if isinstance(result, dict) else {}
    outcome = str(result.get("outcome") or ("fixed" if restored else "failed"))
    return {
        "mitigation": str(mitigation),
        "outcome": outcome,
        "message": " ".join(str(result.get("message") or reason or "no result handed back").split()),
        "restored": bool(restored),
        "reason": " ".join(str(reason or "").split()),
        "stop": bool(stop),
        "steps": list(result.get("steps") or []),
    }


def next_rung(ladder: list, climbed: list) -> dict:
    """``{"next": index of the rung to try, or None, "why": one line}`` after the rungs ``climbed`` so far."""
    if not ladder:
        return {"next": None, "why": "no mitigation to try"}
    if not climbed:
        return {"next": 0, "why": f"first rung: {ladder[0]['mitigation']}"}
    last = climbed[-1]
    name = last["mitigation"]
    if name in FINAL:  # it stopped the service on purpose: a later rung would start it again
        return {"next": None, "why": f"{name} stopped the service to protect its data: no further rung is tried "
                                     f"({last['outcome']}: {said(last)})"}  # fmt: skip
    if last["restored"]:
        return {"next": None, "why": f"{name} restored the service"}
    if last["outcome"] == "security":
        return {"next": None, "why": f"{name} stopped the service on suspected tampering: no further rung is tried"}
    why_not = said(last)
    if last.get("stop"):
        return {"next": None, "why": f"{name}: {why_not}: no further rung is tried"}
    done = len(climbed)
    failed = f"{name} did not restore the service ({last['outcome']}: {why_not})"
    if done >= len(ladder):
        return {"next": None, "why": f"{failed}, and no rung is left"}
    return {"next": done, "why": f"{failed}: trying {ladder[done]['mitigation']}"}


def said(rung: dict) -> str:
    """Why a rung did not restore the service, without repeating its class (``refused: refused: ...``)."""
    text = rung["reason"] or rung["message"]
    prefix = f"{rung['outcome']}: "
    return text[len(prefix) :] if text.lower().startswith(prefix) else text


def alert_not_over(failure: dict) -> bool:
    """The verify of the alert itself failed (its ALERTS series still there: the prometheus_query with
    ``absent``), the service's own checks having passed before it. Whether a service is restored is its own
    checks' to say (health, the unit, its verify_queries); an alert lags them (a ``for:``, a rate over minutes),
    so its still firing fails the incident, silence kept, and climbs no further: a rollback forced on that
    would roll back a service its checks prove well."""
    args = (failure.get("invocation") or {}).get("module_args") or {}
    return args.get("absent") is True and "satisfied" in failure


def climb(ladder: list, climbed: list, mitigation: str, result, failure, *, reason: str = "") -> dict:
    """The ladder after one rung: ``{"climbed": [..., this rung], "next", "why", "final"}``.

    ``failure`` is what stopped the rung (its mitigation's failure, or the verify's), empty when it restored the
    service. No rung comes after an escalation refused (``escalation_refused``), a verify that proved nothing
    either way (``inconclusive``: Prometheus did not answer, or evaluates no rule of the alert's name) or the
    alert still firing once the service's own checks passed (``alert_not_over``): climbing on that would roll
    back a service the rung may well have fixed. ``final``: no rung comes after this one, so
    its failure, if any, is the incident's.
    """
    failure = failure if isinstance(failure, dict) else {}
    stop = bool(failure.get("escalation_refused") or failure.get("inconclusive") or alert_not_over(failure))
    if failure.get("escalation_refused") and not result:
        result = {"outcome": "refused", "message": failure.get("msg") or reason}
    record = rung_record(mitigation, result, restored=not failure, reason=reason, stop=stop)
    climbed = [*(climbed or []), record]
    decided = next_rung(ladder, climbed)
    return {"climbed": climbed, **decided, "final": decided["next"] is None}


def never_ran(rung: dict) -> bool:
    """A rung refused before its mitigation ran (the window's escalation spent)."""
    return bool(rung.get("stop")) and rung.get("outcome") == "refused" and not rung.get("steps")


def ladder_actions(climbed) -> list:
    """The steps of every rung tried: the first rung's own, then one step per rung after it (its mitigation's
    name: what it did and why it was tried), as the restart's built-in escalation recorded its rollback."""
    climbed = [rung for rung in climbed or [] if isinstance(rung, dict)]
    if not climbed:
        return []
    actions = list(climbed[0].get("steps") or [])
    for before, rung in itertools.pairwise(climbed):
        if never_ran(rung):  # its escalation refused: the refusal is the reason, not a step
            continue
        actions.append({
            "step": rung.get("mitigation"),
            "outcome": f"{before.get('mitigation')} did not restore the service ({before.get('outcome')}): "
                       f"{rung.get('outcome')}, {rung.get('message')}",
            "detail": {"outcome": rung.get("outcome"), "restored": rung.get("restored"), "steps": rung.get("steps")},
        })  # fmt: skip
    return actions
