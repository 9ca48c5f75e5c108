#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: alertmanager_silence
short_description: Create, extend or expire an Alertmanager silence
version_added: 0.1.0
description:
  - Manages silences through Alertmanager's API v2, so on-call is not paged while a remediation works and is
    paged again once it is done.
  - With O(state=present), an active silence with the same matchers and the same comment is reused, and
    extended only when it would end sooner than asked (by more than a small tolerance, see notes). Otherwise
    a new silence is created.
  - With O(state=absent), every active or pending silence with the same matchers (and the same comment, when
    one is given) is expired.
  - In check mode it reads Alertmanager and reports what it would do, without changing anything.
author: incident.remediation contributors
extends_documentation_fragment:
  - incident.remediation.http_api
attributes:
  check_mode:
    support: full
    description: Reads existing silences; creates, extends and expires nothing.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: full
options:
  url:
    description: Base URL of Alertmanager, for example V(http://alertmanager:9093). Falls back to E(ALERTMANAGER_URL).
    type: str
    required: true
  matchers:
    description: Label matchers of the silence; the order does not matter.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label name.
        type: str
        required: true
      value:
        description: Label value, or a regular expression with O(matchers[].regex=true). Taken literally.
        type: str
        required: true
      regex:
        description: O(matchers[].value) is a regular expression.
        type: bool
        default: false
      equal:
        description: V(false) makes a negative matcher (C(!=) or C(!~)).
        type: bool
        default: true
  duration:
    description:
      - How long the silence lasts from now, in seconds or with a unit (V(90s), V(30m), V(2h), V(1d)).
      - One of O(duration) or O(ends_at) is required with O(state=present).
    type: str
  ends_at:
    description: When the silence ends, ISO 8601 with a time zone (V(2026-11-23T18:00:00Z)).
    type: str
  comment:
    description:
      - Why the silence exists; put the incident id in it. Required with O(state=present). With
        O(state=absent) it narrows the silences expired to those with this comment.
    type: str
  created_by:
    description: Who created the silence.
    type: str
    default: incident.remediation
  state:
    description: V(present) creates or extends; V(absent) expires.
    type: str
    choices: [present, absent]
    default: present
  bearer_token:
    description:
      - "Sent as C(Authorization: Bearer <token>). Never logged. Falls back to E(ALERTMANAGER_BEARER_TOKEN)."
    type: str
notes:
  - The tolerance that keeps a re-run idempotent is 5 % of the asked duration, at least 10 s and at most 5 min;
    an existing silence that ends within it of the asked end is left as it is.
  - Alertmanager gives an extended silence a new id when it cannot update it in place; RV(silence_id) is the
    one in force.
seealso:
  - name: Alertmanager API v2
    description: The silences API this module calls.
    link: https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml
"""

EXAMPLES = r"""
- name: Acknowledge - silence the alert while we work on it, for at most 2 h
  incident.remediation.alertmanager_silence:
    url: http://alertmanager:9093
    matchers:
      - name: alertname
        value: OneiricDigestVerificationFailed
      - name: instance
        value: web1:8080
    duration: 2h
    comment: "incident INC-20261123-0042: cache purge in progress"

- name: Close - expire it once the fix is verified
  incident.remediation.alertmanager_silence:
    url: http://alertmanager:9093
    matchers:
      - name: alertname
        value: OneiricDigestVerificationFailed
      - name: instance
        value: web1:8080
    comment: "incident INC-20261123-0042: cache purge in progress"
    state: absent
"""

RETURN = r"""
silence_id:
  description: Id of the silence in force (O(state=present)); V(null) in check mode when it would be created.
  returned: always
  type: str
  sample: 2b3c6f5a-0f7e-4d3b-9a3e-8c1d3e6f4a21
silence_ids:
  description: Ids of the silences expired (O(state=absent)) or reused (O(state=present)).
  returned: always
  type: list
  elements: str
operation:
  description: What was done, or would be done in check mode.
  returned: always
  type: str
  sample: created
  choices: [created, extended, unchanged, expired, none]
ends_at:
  description: When the silence in force ends (O(state=present)).
  returned: always
  type: str
  sample: "2026-11-23T18:00:00Z"
"""

import re
from datetime import datetime, timedelta, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.arguments import (
    client_from_params,
    http_api_spec,
)
from ansible_collections.incident.remediation.plugins.module_utils.errors import RemediationError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*\Z")
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)\Z")


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"duration {text!r} is not a positive number of seconds or a value like 90s, 30m, 2h, 1d")
    return timedelta(seconds=float(match.group(1)) * UNITS[match.group(2) or "s"])


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds, Z or an offset), as aware UTC."""
    match = _TIMESTAMP.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 time with a time zone, like 2026-11-23T18:00:00Z")
    base, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(base + (f".{fraction[:6].ljust(6, '0')}" if fraction else ""))
    offset = timedelta(0) if zone == "Z" else timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    offset = -offset if zone.startswith("-") else offset
    return stamp.replace(tzinfo=timezone(offset)).astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def normalize(matchers: list[dict]) -> list[tuple]:
    return sorted(
        (
            m["name"],
            m["value"],
            bool(m.get("isRegex", m.get("regex", False))),
            bool(m.get("isEqual", m.get("equal", True))),
        )
        for m in matchers
    )


class Silences:
    """Alertmanager's silences API."""

    def __init__(self, params: dict) -> None:
        self.base = params["url"].rstrip("/") + "/api/v2"
        self.client = client_from_params(params)

    def matching(self, matchers: list[dict], comment: str | None) -> list[dict]:
        wanted = normalize(matchers)
        return [
            s
            for s in self.client.call_json("GET", f"{self.base}/silences") or []
            if s.get("status", {}).get("state") in ("active", "pending")
            and normalize(s.get("matchers", [])) == wanted
            and (comment is None or s.get("comment") == comment)
        ]

    def post(self, silence: dict) -> str:
        return self.client.call_json("POST", f"{self.base}/silences", payload=silence)["silenceID"]

    def expire(self, silence_id: str) -> None:
        self.client.call_json("DELETE", f"{self.base}/silence/{silence_id}")


def wanted_end(params: dict, now: datetime) -> tuple[datetime, timedelta]:
    if params["ends_at"]:
        end = parse_time(params["ends_at"])
        if end <= now:
            raise ValueError(f"ends_at {params['ends_at']} is in the past")
        return end, end - now
    length = parse_duration(params["duration"])
    return now + length, length


def ensure_present(module, api: Silences, now: datetime) -> dict:
    params = module.params
    end, length = wanted_end(params, now)
    tolerance = min(max(length.total_seconds() * 0.05, 10), 300)
    existing = sorted(api.matching(params["matchers"], params["comment"]), key=lambda s: s["endsAt"], reverse=True)
    result = {"changed": False, "silence_ids": [s["id"] for s in existing]}
    if existing and parse_time(existing[0]["endsAt"]) >= end - timedelta(seconds=tolerance):
        return {
            **result,
            "operation": "unchanged",
            "silence_id": existing[0]["id"],
            "ends_at": existing[0]["endsAt"],
        }
    silence = {
        "matchers": [
            {"name": m["name"], "value": m["value"], "isRegex": m["regex"], "isEqual": m["equal"]}
            for m in params["matchers"]
        ],
        "startsAt": existing[0]["startsAt"] if existing else format_time(now),
        "endsAt": format_time(end),
        "createdBy": params["created_by"],
        "comment": params["comment"],
    }
    operation = "extended" if existing else "created"
    if existing:
        silence["id"] = existing[0]["id"]
    silence_id = existing[0]["id"] if existing else None
    if not module.check_mode:
        silence_id = api.post(silence)
    return {
        **result,
        "changed": True,
        "operation": operation,
        "silence_id": silence_id,
        "ends_at": silence["endsAt"],
    }


def ensure_absent(module, api: Silences) -> dict:
    existing = api.matching(module.params["matchers"], module.params["comment"])
    ids = [s["id"] for s in existing]
    if not module.check_mode:
        for silence_id in ids:
            api.expire(silence_id)
    return {
        "changed": bool(ids),
        "operation": "expired" if ids else "none",
        "silence_id": None,
        "silence_ids": ids,
        "ends_at": None,
    }


def main() -> None:
    spec = http_api_spec(url_env="ALERTMANAGER_URL", token_env="ALERTMANAGER_BEARER_TOKEN")
    spec.update(
        matchers={
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "value": {"type": "str", "required": True},
                "regex": {"type": "bool", "default": False},
                "equal": {"type": "bool", "default": True},
            },
        },
        duration={"type": "str"},
        ends_at={"type": "str"},
        comment={"type": "str"},
        created_by={"type": "str", "default": "incident.remediation"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        mutually_exclusive=[("duration", "ends_at")],
        required_if=[("state", "present", ("duration", "ends_at"), True), ("state", "present", ("comment",))],
    )
    if not module.params["matchers"]:
        module.fail_json(msg="matchers is empty: a silence without matchers would silence every alert")
    for matcher in module.params["matchers"]:
        if matcher["regex"]:
            try:
                re.compile(matcher["value"])
            except re.error as exc:
                module.fail_json(msg=f"matcher {matcher['name']}: value is not a valid regular expression: {exc}")
    api = Silences(module.params)
    try:
        if module.params["state"] == "present":
            result = ensure_present(module, api, datetime.now(timezone.utc))
        else:
            result = ensure_absent(module, api)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except RemediationError as exc:
        module.fail_json(msg=f"Alertmanager: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
