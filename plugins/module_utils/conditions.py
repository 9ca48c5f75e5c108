# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conditions the modules check: threshold comparisons and JSON field expectations."""

from __future__ import annotations

import json
import operator

COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_MISSING = object()


def compare(value: float, comparison: str, threshold: float) -> bool:
    return COMPARISONS[comparison](value, threshold)


def lookup(data, path: str):
    """The value at a dotted path (``checks.db.status``, ``items.0.name``), or _MISSING."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def same_value(actual, expected) -> bool:
    """Equal, or equal as text when the types differ (``200`` and ``"200"``); booleans stay strict."""
    if actual == expected and type(actual) is type(expected):
        return True
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return actual == expected
    if isinstance(actual, (dict, list)) or isinstance(expected, (dict, list)):
        return actual == expected
    return str(actual) == str(expected)


def show(value, limit: int = 120) -> str:
    if value is _MISSING:
        return "(missing)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_mismatches(data, expect: dict) -> list[str]:
    """What in ``data`` differs from ``expect`` (dotted path: expected value); empty when all match."""
    problems = []
    for path, expected in expect.items():
        actual = lookup(data, str(path))
        if actual is _MISSING or not same_value(actual, expected):
            problems.append(f"{path} = {show(actual)} (expected {show(expected)})")
    return problems
