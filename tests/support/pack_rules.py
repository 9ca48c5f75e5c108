"""The Prometheus rules of a system's pack (inventories/<system>/prometheus/rules.yml), for tests.

The test override issue 24 allows: end-to-end tests load the pack's own rules.yml, not an edited copy,
and may shorten its `for:` durations and the range windows of its expressions, so that an alert whose
runbook says "for 5 minutes" fires in seconds. Nothing else changes: alert and record names, labels,
annotations, thresholds, metric names and label matchers stay as the pack ships them.

    rules = pack_rules.for_tests("oneiric")           # every minute becomes a second
    Prometheus(work, targets=[...], rules=rules, ...)  # tests/support/monitoring.py

What shortened() rewrites, in seconds (milliseconds when not whole):
- each rule's `for:`, divided by ``factor``;
- in each expression, outside string literals: range selectors and subquery ranges (``[5m]``,
  ``[1h:1m]``) and offsets (``offset 15m``), divided by ``factor`` and never below ``min_window``
  seconds (a rate needs two scrapes in its window: with the test Prometheus' 1 s scrapes, 4 s is
  safe). Offsets take the same value as the window of the same length, so ``x unless x offset 15m``
  beside ``increase(x[15m])`` keeps its meaning. A subquery's step is divided by ``factor`` only.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
RANGE = re.compile(rf"\[\s*({DURATION})\s*(?::\s*({DURATION})?\s*)?\]")
OFFSET = re.compile(rf"\b(offset\s+)(-?)({DURATION})\b")


def rules_file(system: str) -> Path:
    """inventories/<system>/prometheus/rules.yml; FileNotFoundError names the packs there are."""
    path = ROOT / "inventories" / system / "prometheus" / "rules.yml"
    if not path.is_file():
        raise FileNotFoundError(f"no pack {system!r}: {path} does not exist (packs: {', '.join(systems())})")
    return path


def systems() -> list[str]:
    """The systems whose pack has Prometheus rules."""
    return sorted(path.parent.parent.name for path in ROOT.glob("inventories/*/prometheus/rules.yml"))


def load(system: str) -> dict:
    """The pack's rules as it ships them."""
    return yaml.safe_load(rules_file(system).read_text())


def seconds(duration: str) -> float:
    """A Prometheus duration (``90s``, ``1h30m``, ``7d``) in seconds; ValueError for anything else."""
    if not re.fullmatch(DURATION, duration.strip()):
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))


def duration(value: float) -> str:
    """Seconds written as a Prometheus duration: whole seconds as ``Ns``, else ``Nms``."""
    millis = round(value * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def shortened_expr(expr: str, factor: float = 60, min_window: float = 4.0) -> str:
    """``expr`` with its range windows, subquery ranges and offsets shortened (see the module's doc)."""

    def window(text: str) -> str:
        return duration(max(seconds(text) / factor, min_window))

    def step(text: str) -> str:
        return duration(max(seconds(text) / factor, 0.001))

    def ranges(match: re.Match) -> str:
        if ":" not in match.group(0):
            return f"[{window(match.group(1))}]"
        return f"[{window(match.group(1))}:{step(match.group(2)) if match.group(2) else ''}]"

    def offsets(match: re.Match) -> str:
        return f"{match.group(1)}{match.group(2)}{window(match.group(3))}"

    parts, last = [], 0
    for literal in STRING.finditer(expr):  # label values and regexes are never touched
        parts.append(OFFSET.sub(offsets, RANGE.sub(ranges, expr[last : literal.start()])))
        parts.append(literal.group(0))
        last = literal.end()
    parts.append(OFFSET.sub(offsets, RANGE.sub(ranges, expr[last:])))
    return "".join(parts)


def shortened(rules: dict, factor: float = 60, min_window: float = 4.0) -> dict:
    """A copy of a rule file's content with every `for:` and every window of its expressions divided by
    ``factor`` (windows and offsets no shorter than ``min_window`` seconds); nothing else changed."""
    if factor <= 0:
        raise ValueError(f"factor must be above 0, got {factor}")
    result = copy.deepcopy(rules)
    for group in result.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            try:
                rule["expr"] = shortened_expr(str(rule["expr"]), factor, min_window)
                if "for" in rule:
                    rule["for"] = duration(seconds(str(rule["for"])) / factor)
            except ValueError as exc:
                raise ValueError(f"group {group.get('name')}, rule {name}: {exc}") from None
    return result


def for_tests(system: str, factor: float = 60, min_window: float = 4.0) -> dict:
    """The pack's own rules with the documented test override applied: every minute becomes a second."""
    return shortened(load(system), factor, min_window)
