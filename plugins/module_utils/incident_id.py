# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident id, in one place: one format for alerts and for operators.

``INC-<start, UTC, compact>-<fingerprint>`` for an alert (the same for every run about that alert and
episode), ``OPS-<now, UTC, compact>-<4 hex>`` for an operator's run. The front end derives the alert's id
before the playbook runs (src/incident_remediation/routing.py); a test holds it to ``from_alert``.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


def is_incident_id(value) -> bool:
    return isinstance(value, str) and bool(INCIDENT_ID.match(value))


def from_alert(alert) -> str:
    """``INC-<start>-<fingerprint>``, stable for every run about the same alert; empty without a fingerprint."""
    if not isinstance(alert, dict) or not alert.get("fingerprint"):
        return ""
    stamp = re.sub(r"[^0-9TZ]", "", str(alert.get("startsAt") or ""))[:15]
    fingerprint = re.sub(r"[^A-Za-z0-9]", "", str(alert["fingerprint"]))[:16].lower()  # as the receiver keeps it
    return "-".join(part for part in ("INC", stamp, fingerprint) if part)


def for_operator(now: datetime | None = None, suffix: str = "") -> str:
    """``OPS-<UTC time>-<4 hex>``: an operator's run, unique enough for two operators in the same second."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"OPS-{moment:%Y%m%dT%H%M%SZ}-{suffix or secrets.token_hex(2)}"


def incident_id(alert=None, given: str = "") -> str:
    """The id of a run: ``given`` when set (checked), else the alert's, else a new operator id."""
    given = str(given or "")
    if given:
        if not is_incident_id(given):
            raise ValueError(f"incident id {given!r} must be letters, digits and ._:- (at most 128)")
        return given
    return from_alert(alert) or for_operator()
