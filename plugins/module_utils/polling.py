# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Poll a check until it holds: a deadline to start holding, and a period it must hold for."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class PollOutcome:
    satisfied: bool
    attempts: int
    elapsed: float
    held_for: float
    longest_hold: float
    last: Any


def poll(
    check: Callable[[], tuple[bool, Any]],
    *,
    wait: float,
    interval: float,
    hold: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PollOutcome:
    """Call ``check`` until it has returned True continuously for ``hold`` seconds.

    The condition must start holding within ``wait`` seconds; once it holds, polling
    goes on past that deadline until ``hold`` is reached, and any False observation
    resets the hold and, past the deadline, ends the poll unsatisfied. ``check``
    returns (satisfied, observation); an exception from it ends the poll at once.
    """
    start = clock()
    deadline = start + wait
    attempts = 0
    held_since = None
    longest = 0.0
    while True:
        observed_at = clock()
        satisfied, last = check()
        attempts += 1
        now = clock()
        if satisfied:
            held_since = observed_at if held_since is None else held_since
            held_for = now - held_since
            longest = max(longest, held_for)
            if held_for >= hold:
                return PollOutcome(True, attempts, now - start, held_for, longest, last)
            nap = min(interval, hold - held_for)
        else:
            held_since = None
            held_for = 0.0
            if now >= deadline:
                return PollOutcome(False, attempts, now - start, held_for, longest, last)
            nap = min(interval, deadline - now)
        sleep(max(nap, 0.01))
