# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memory_limit role's decisions, pure (seed 000, runbook 5, memory exhaustion).

Before a limit is raised: a leak (swaps minus cleanups growing over the window, scenario A) is not fed more
memory, a restart is (the ladder's next rung); real load (scenario C) is. A limit is never raised beyond what
the host has (its MemTotal minus a reserve), and a unit with no limit (``MemoryMax=infinity``) is not given one
unless asked. The role calls ``decide`` through the ``memory_limit_decision`` filter.
"""

from __future__ import annotations

import math
import re

_BYTES = re.compile(r"^[0-9]+$")
GIB = 1024**3


def said_bytes(value: int) -> str:
    """``12884901888`` -> ``12.0 GiB``; under a GiB in MiB."""
    return f"{value / GIB:.1f} GiB" if value >= GIB else f"{value / 1024**2:.0f} MiB"


def leak(growth, threshold: float) -> bool | None:
    """Whether the instances not cleaned up grew by more than ``threshold`` over the window; None: not known
    (no series, or not a number)."""
    try:
        number = float(growth)
    except (TypeError, ValueError):
        return None
    if math.isnan(number):
        return None
    return number > float(threshold)


def capacity(limit_bytes: int, per_instance_mb: float, base_mb: float) -> int:
    """How many instances a limit holds by the runbook's formula (instances x per-instance + base)."""
    spare_mb = limit_bytes / 1024**2 - float(base_mb)
    return max(0, math.floor(spare_mb / float(per_instance_mb))) if per_instance_mb else 0


def decide(
    current: str,
    target_bytes: int,
    *,
    target: str = "",
    explicit: bool = False,
    allow_decrease: bool = False,
    allow_unlimited: bool = False,
    memtotal_bytes: int | None = None,
    reserve_bytes: int = 0,
    leak_check: bool = True,
    growth=None,
    leak_threshold: float = 5,
    leak_query: str = "",
    per_instance_mb: float = 50,
    base_mb: float = 500,
) -> dict:
    """What the role does with the limit in force ``current`` (bytes or ``infinity``) and the target.

    ``{"action": "apply" | "unchanged" | "refuse", "change": "set" | "raised" | "lowered" | "",
    "advice": "restart" | "", "leak": True | False | None, "cap_bytes": int | None, "holds": int, "message": str}``;
    the message is the refusal's, for the operator (it says the numbers), empty otherwise; ``holds`` is how many
    instances the target holds by the formula (what the count must stay below once it is in force).
    """
    target = target or str(target_bytes)
    cap = None if memtotal_bytes is None else max(0, int(memtotal_bytes) - int(reserve_bytes))
    holds = capacity(target_bytes, per_instance_mb, base_mb)
    decision = {"action": "refuse", "change": "", "advice": "", "leak": None, "cap_bytes": cap, "holds": holds,
                "message": ""}  # fmt: skip
    if current == "infinity":
        if not (explicit or allow_unlimited):
            decision["message"] = (
                f"refusing, nothing changed: MemoryMax is infinity (no limit in force), so there is no limit to raise "
                f"and a MemoryMax={target} would be a new limit the service never ran under; give memory_limit_value "
                "or set memory_limit_allow_unlimited to impose one"
            )
            return decision
        change = "set"
    elif _BYTES.match(str(current)):
        in_force = int(current)
        if target_bytes <= in_force and not (target_bytes < in_force and allow_decrease):
            return {**decision, "action": "unchanged"}
        change = "lowered" if target_bytes < in_force else "raised"
    else:
        decision["message"] = f"refusing, nothing changed: the limit in force is not known (MemoryMax {current!r})"
        return decision
    if change != "lowered" and leak_check:
        decision["leak"] = leak(growth, leak_threshold)
        if decision["leak"] is None:
            decision["message"] = (
                f"refusing, nothing changed: cannot tell a leak from load, {leak_query or 'the leak query'} gave "
                f"no number ({growth!r}); set memory_limit_leak_check false to raise the limit without it"
            )
            return decision
        if decision["leak"]:
            decision["advice"] = "restart"
            decision["message"] = (
                f"refused: a leak, not load: instances not cleaned up grew by {float(growth):g} over the window "
                f"(> {float(leak_threshold):g}: {leak_query}); a higher MemoryMax would only feed it, restart the "
                "service to force the cleanup (runbook 5, scenario A); the limit is left as it is"
            )
            return decision
    if cap is not None and change != "lowered" and target_bytes > cap:
        decision["message"] = (
            f"refusing, nothing changed: MemoryMax={target} ({target_bytes} bytes, {said_bytes(target_bytes)}) is "
            f"more than the host has to give: MemTotal {memtotal_bytes} bytes ({said_bytes(int(memtotal_bytes))}) "
            f"minus the reserve {reserve_bytes} bytes ({said_bytes(int(reserve_bytes))}) = {cap} bytes "
            f"({said_bytes(cap)}); more memory is a host to resize or the load to spread"
        )
        return decision
    return {**decision, "action": "apply", "change": change}
