# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The escalation ladder: which rung an incident tries next, and why (docs/mitigation-contract.md).

A service maps an alert to an ordered list of mitigations (the plan's ``ladder``). Each rung is verified; the
next is tried only when the one before did not restore the service, and never past a security stop. Every rung
after the first takes the window's one escalation from the unit's budget on the host (restart_budget with
escalation=true): a flapping alert climbs once per window, then is refused.
"""

from __future__ import annotations


def rung_record(mitigation: str, result, restored: bool, reason: str = "") -> dict:
    """What one rung did, as the report shows it: the mitigation's outcome and message, and the verify's verdict."""
    result = result if isinstance(result, dict) else {}
    return {
        "mitigation": str(mitigation),
        "outcome": str(result.get("outcome") or "failed"),
        "message": str(result.get("message") or reason or "no result handed back"),
        "restored": bool(restored),
        "reason": " ".join(str(reason or "").split()),
    }


def next_rung(ladder: list, climbed: list) -> dict:
    """``{"next": index of the rung to try, or None, "why": one line}`` after the rungs ``climbed`` so far."""
    if not ladder:
        return {"next": None, "why": "no mitigation to try"}
    if not climbed:
        return {"next": 0, "why": f"first rung: {ladder[0]['mitigation']}"}
    last = climbed[-1]
    name = last["mitigation"]
    if last["restored"]:
        return {"next": None, "why": f"{name} restored the service"}
    if last["outcome"] == "security":
        return {"next": None, "why": f"{name} stopped the service on suspected tampering: no further rung is tried"}
    done = len(climbed)
    failed = f"{name} did not restore the service ({last['outcome']}: {last['reason'] or last['message']})"
    if done >= len(ladder):
        return {"next": None, "why": f"{failed}, and no rung is left"}
    return {"next": done, "why": f"{failed}: trying {ladder[done]['mitigation']}"}
