# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mitigations and the one result each hands back to the incident, in one place.

Every list of mitigation names in the collection and the front end is held to ``MITIGATIONS`` by a test
(tests/unit/plugins/module_utils/test_mitigations.py). The contract is documented in
docs/mitigation-contract.md; ``mitigation_result`` builds and checks the result a role hands back.
"""

from __future__ import annotations

# Each mitigation (a role of the collection), the options an incident may pass it and their defaults: the one
# place an option's default is written (the plan fills them in, typed). None: no default, the option's absence
# means something (proxy_config takes the service's proxies, config_change the file variant).
OPTIONS: dict[str, dict[str, object]] = {
    # unit: another unit of the service to restart instead (services.NAME.units, e.g. the relay of seed 002 P1-003)
    "restart": {"force": False, "escalate": False, "unit": None},
    "rollback": {"version": "", "force": False},
    "cache_purge": {"allow_tampered": False},
    "memory_limit": {"instances": 0, "value": ""},
    "proxy_config": {"state": "present", "http_proxy": None, "https_proxy": None},
    "config_change": {"set": {}, "remove": [], "api_url": None, "body": {}, "apply": "restart"},
    "protect_data": {"reason": ""},
}
MITIGATIONS: dict[str, frozenset[str]] = {name: frozenset(options) for name, options in OPTIONS.items()}
# What a mitigation needs in the service's description (services.NAME) beside its unit; a plan with a rung
# whose service lacks one is refused before anything runs (roles/incident/tasks/mitigations/<name>.yml maps
# them to the role's variables).
# A mapping instead of a tuple: the needs depend on the service's STRATEGIES key (how it is deployed).
SERVICE_NEEDS: dict[str, tuple[str, ...] | dict[str, tuple[str, ...]]] = {
    "rollback": {"symlink": ("release_root",), "git": ("git_repo",), "command": ("rollback_command",)},
    "cache_purge": ("cache_dir", "cache_manifest"),
    "protect_data": ("snapshot_command",),
}
# The service's key naming how a mitigation with several strategies works there, and its default.
STRATEGIES: dict[str, tuple[str, str]] = {"rollback": ("rollback_strategy", "symlink")}


def service_needs(mitigation: str, service: dict) -> tuple[str, ...]:
    """What ``mitigation`` needs in ``service``'s description; ResultError for a strategy it does not have."""
    needs = SERVICE_NEEDS.get(mitigation, ())
    if isinstance(needs, dict):
        key, default = STRATEGIES[mitigation]
        strategy = service.get(key) or default
        if strategy not in needs:
            raise ResultError(f"{key} {strategy!r} is not one of {', '.join(needs)}")
        return needs[strategy]
    return needs


# Mitigations after which no rung is tried, whatever they handed back (a failure included): they stop the service
# on purpose (protect_data: preventing further writes matters more than uptime), and a later rung would start it.
FINAL = frozenset({"protect_data"})

# fixed: the role changed the host and proved the change; unchanged: nothing needed doing (and nothing
# was done); refused: a safety limit stopped it before it acted (a budget, a guard, bad input);
# failed: it acted, or tried, and the service is not proved well; security: it stopped the service
# because of suspected tampering, and people must look; protected: it stopped the service on purpose to keep
# its data as it is (a snapshot taken, nothing restored), a SEV-1 for people (protect_data, seed 001 4.4).
OUTCOMES = ("fixed", "unchanged", "refused", "failed", "security", "protected")
FAILURES = ("refused", "failed", "security", "protected")
# What a role may say it proved itself, so that the incident does not prove it again.
VERIFIED_KINDS = ("health", "unit", "queries", "alert", "other")


class ResultError(ValueError):
    """A result that does not follow the contract: the role's defect, named for its author."""


def _text(value, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float, bool)):
        raise ResultError(f"{where} must be text, got {type(value).__name__}")
    return " ".join(str(value).split())


def _entries(value, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> list[dict]:
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        raise ResultError(f"{where} must be a list of mappings, got {type(value).__name__}")
    entries = []
    for number, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ResultError(f"{where}[{number}] must be a mapping, got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(keys))
        missing = [key for key in required if key not in entry]
        if unknown or missing:
            raise ResultError(
                f"{where}[{number}]: unknown keys {unknown}, missing keys {missing} (keys: {', '.join(keys)})"
            )
        entries.append(dict(entry))
    return entries


def mitigation_result(
    mitigation: str,
    outcome: str,
    message: str,
    *,
    changed: bool | None = None,
    verified=None,
    steps=None,
    evidence=None,
    details=None,
    check_mode: bool = False,
) -> dict:
    """The one result a mitigation hands back (docs/mitigation-contract.md); raises ResultError on a bad one."""
    if mitigation not in MITIGATIONS:
        raise ResultError(f"unknown mitigation {mitigation!r} (one of {', '.join(MITIGATIONS)})")
    if outcome not in OUTCOMES:
        raise ResultError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    verified = _entries(verified, "verified", ("check", "kind", "result"), ("check", "kind", "result"))
    for entry in verified:
        if entry["kind"] not in VERIFIED_KINDS:
            raise ResultError(f"verified kind {entry['kind']!r} is not one of {', '.join(VERIFIED_KINDS)}")
        entry["check"] = _text(entry["check"], "verified check")
        entry["result"] = _text(entry["result"], "verified result")
    steps = _entries(steps, "steps", ("step", "outcome", "seconds", "detail", "changed"), ("step", "outcome"))
    if evidence in (None, ""):
        evidence = []
    if isinstance(evidence, str):
        evidence = [evidence]
    if not isinstance(evidence, (list, tuple)) or not all(isinstance(path, str) for path in evidence):
        raise ResultError("evidence must be a list of paths")
    if details is not None and not isinstance(details, dict):
        raise ResultError(f"details must be a mapping, got {type(details).__name__}")
    if changed is None:
        changed = outcome == "fixed"
    if outcome == "unchanged" and changed and not check_mode:
        raise ResultError("an unchanged outcome cannot have changed the host")
    return {
        "mitigation": mitigation,
        "outcome": outcome,
        "changed": bool(changed),
        "message": _text(message, "message") or f"{mitigation}: {outcome}",
        "verified": verified,
        "steps": steps,
        "evidence": [path for path in evidence if path],
        "details": dict(details or {}),
        "check_mode": bool(check_mode),
    }


def proved(result, kind: str) -> bool:
    """Whether a mitigation's result says it proved ``kind`` (health, unit, queries, alert) itself."""
    return isinstance(result, dict) and any(
        isinstance(entry, dict) and entry.get("kind") == kind for entry in result.get("verified") or []
    )


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _typed(mitigation: str, option: str, value, default):
    if isinstance(default, bool):
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in _TRUE + _FALSE:
            return value if isinstance(value, bool) else text in _TRUE
    elif isinstance(default, int):
        try:
            if not isinstance(value, bool) and int(str(value)) >= 0:
                return int(str(value))
        except ValueError:
            pass
    elif default is None or isinstance(default, str):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(value, type(default)):
        return value
    kind = "a boolean" if isinstance(default, bool) else "a whole number" if isinstance(default, int) else (
        "text" if default is None or isinstance(default, str) else f"a {type(default).__name__}")  # fmt: skip
    raise ResultError(f"option {option} of {mitigation} must be {kind}, got {value!r}")


def complete_options(mitigation: str, given: dict) -> dict:
    """``given`` with every option's default filled in and each value typed; raises ResultError when one is not."""
    defaults = OPTIONS[mitigation]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ResultError(f"{mitigation} does not take the options {unknown} (it takes: {', '.join(sorted(defaults))})")
    typed = {key: value for key, value in defaults.items() if value is not None}
    for key, value in given.items():
        typed[key] = _typed(mitigation, key, value, defaults[key])
    return typed
