"""Alertmanager's webhook payload (version 4), validated into plain alerts.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field

from incident_remediation.errors import PayloadError

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
FINGERPRINT = re.compile(r"^[0-9a-fA-F]{1,64}\Z")
MAX_ALERTS = 1000
MAX_VALUE = 4096
MAX_LABELS = 256  # labels, and annotations, of one alert (Alertmanager's have tens)
MAX_DEPTH = 64  # JSON nesting: a payload has 4 (body, alerts, alert, labels)
STATUSES = ("firing", "resolved")
VERSION = "4"


def authorized(header: str, token: bytes) -> bool:
    """Whether an Authorization header carries the bearer ``token``: one constant-time comparison of the whole
    header with ``Bearer <token>``. The scheme is case-insensitive and 1*SP separates it from the token
    (RFC 9110 section 11); the token itself is compared exactly."""
    scheme, space, credentials = header.partition(" ")
    if space and scheme.lower() == "bearer":
        header = "Bearer " + credentials.lstrip(" ")
    return hmac.compare_digest(header.encode("utf-8", "replace"), b"Bearer " + token)


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str = ""
    generator_url: str = ""
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels["alertname"]

    def as_webhook(self, labels: list[str] | None = None) -> dict:
        """The alert in the webhook's own shape; only ``labels`` (plus alertname) when given."""
        kept = self.labels if labels is None else {k: v for k, v in self.labels.items() if k in {*labels, "alertname"}}
        return {
            "status": self.status,
            "labels": dict(kept),
            "annotations": dict(self.annotations),
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


def _strings(value, where: str, names: bool) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object of strings, got {type(value).__name__}")
    if len(value) > MAX_LABELS:
        raise PayloadError(f"{where} has more than {MAX_LABELS} entries ({len(value)})")
    for key, item in value.items():
        if names and not LABEL_NAME.match(key):
            raise PayloadError(f"{where}: {key!r} is not a label name")
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key} must be a string, got {type(item).__name__}")
        if len(item) > MAX_VALUE:
            raise PayloadError(f"{where}.{key} is longer than {MAX_VALUE} characters")
    return dict(value)


def _text(alert: dict, key: str, where: str) -> str:
    value = alert.get(key, "")
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string, got {type(value).__name__}")
    return value


def parse_alert(raw, where: str = "alert") -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} must be an object, got {type(raw).__name__}")
    status = raw.get("status")
    if status not in STATUSES:
        raise PayloadError(f"{where}.status must be 'firing' or 'resolved', got {status!r}")
    labels = _strings(raw.get("labels"), f"{where}.labels", names=True)
    if not labels.get("alertname"):
        raise PayloadError(f"{where}.labels has no alertname")
    fingerprint = _text(raw, "fingerprint", where)
    if not FINGERPRINT.match(fingerprint):
        raise PayloadError(f"{where}.fingerprint must be Alertmanager's hexadecimal fingerprint, got {fingerprint!r}")
    return Alert(
        status=status,
        labels=labels,
        annotations=_strings(raw.get("annotations", {}), f"{where}.annotations", names=False),
        starts_at=_text(raw, "startsAt", where),
        ends_at=_text(raw, "endsAt", where),
        generator_url=_text(raw, "generatorURL", where),
        fingerprint=fingerprint.lower(),
    )


def _too_deep(data) -> bool:
    """Whether ``data`` nests deeper than MAX_DEPTH, walked a level at a time (no recursion)."""
    level, depth = [data], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return True
        below = []
        for value in level:
            children = value.values() if type(value) is dict else value if type(value) is list else ()
            below += [child for child in children if type(child) is dict or type(child) is list]
        level = below
    return False


def _json(body: bytes | str):
    """The body's JSON; nesting deeper than MAX_DEPTH is refused (400), whatever the stack allows."""
    too_deep = PayloadError(f"the body is JSON nested deeper than {MAX_DEPTH} levels (a webhook payload has 4)", 400)
    try:
        data = json.loads(body)
    except RecursionError:  # json's C parser counts its nesting against Python's recursion limit
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}", status=400) from None
    if _too_deep(data):
        raise too_deep
    return data


def parse_webhook(body: bytes | str) -> tuple[list[Alert], dict[str, str]]:
    """The alerts of a webhook body and its group's ``receiver`` and ``groupKey`` (strings, empty when absent).

    PayloadError (400 for JSON, or JSON nested too deep; 422 for the shape) names the first problem."""
    data = _json(body)
    if not isinstance(data, dict):
        raise PayloadError(f"the payload must be a JSON object, got {type(data).__name__}")
    if data.get("version") != VERSION:
        raise PayloadError(
            f"unsupported payload version {data.get('version')!r}: Alertmanager's webhook sends {VERSION!r}"
        )
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("alerts must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"more than {MAX_ALERTS} alerts in one payload")
    group = {key: data[key] if isinstance(data.get(key), str) else "" for key in ("receiver", "groupKey")}
    return [parse_alert(raw, f"alerts[{i}]") for i, raw in enumerate(alerts)], group


def parse_payload(body: bytes | str) -> list[Alert]:
    """The alerts of a webhook body (parse_webhook without the group)."""
    return parse_webhook(body)[0]
