# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: memory_limit_decision
short_description: Decide what the memory_limit role does with the limit in force (leak, cap, no limit)
version_added: 0.2.0
description:
  - The memory_limit role's decision, in Python (plugins/module_utils/memory.py), from the limit in force
    (O(_input), bytes or V(infinity)) and the target in bytes (seed 000, runbook 5).
  - A unit with no limit (V(infinity)) is refused unless O(explicit) or O(allow_unlimited); a target at or below
    the limit in force is V(unchanged) (lowered only with O(allow_decrease)); before a raise, a leak (O(growth),
    the instances not cleaned up over the window, above O(leak_threshold)) is refused with the advice to restart,
    an unknown growth is refused when O(leak_check); a target above O(memtotal_bytes) minus O(reserve_bytes) is
    refused with the numbers.
author: incident.remediation contributors
positional: _input
options:
  _input:
    description: MemoryMax in force, bytes or V(infinity).
    type: str
    required: true
  target_bytes:
    description: The target in bytes.
    type: int
    required: true
  target:
    description: The target as written (V(12G)), for the messages.
    type: str
  explicit:
    description: The target is the operator's explicit value.
    type: bool
  allow_decrease:
    description: A lower target may lower the limit.
    type: bool
  allow_unlimited:
    description: A unit with no limit may be given one.
    type: bool
  memtotal_bytes:
    description: The host's MemTotal in bytes; V(null) does not cap.
    type: int
  reserve_bytes:
    description: Memory kept for the host, in bytes.
    type: int
  leak_check:
    description: Whether a raise needs the leak check's number.
    type: bool
  growth:
    description: What the leak query returned (instances not cleaned up over its window); V(null) when nothing.
    type: raw
  leak_threshold:
    description: Growth above this is a leak.
    type: float
  leak_query:
    description: The leak query, for the messages.
    type: str
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    decision: >-
      {{ '157286400' | incident.remediation.memory_limit_decision(target_bytes=2147483648, target='2G',
         memtotal_bytes=25275252736, reserve_bytes=1073741824, growth=0, leak_threshold=5) }}
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    action:
      description: V(apply), V(unchanged) or V(refuse).
    change:
      description: V(set), V(raised) or V(lowered) when applied.
    advice:
      description: V(restart) for a leak.
    leak:
      description: Whether the growth is a leak; V(null) when not checked or not known.
    cap_bytes:
      description: MemTotal minus the reserve.
    message:
      description: The refusal's message, with the numbers.
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.incident.remediation.plugins.module_utils.memory import decide


def memory_limit_decision(current, target_bytes, **options) -> dict:
    try:
        return decide(str(current), int(target_bytes), **options)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"memory_limit_decision: {exc}") from None


class FilterModule:
    def filters(self):
        return {"memory_limit_decision": memory_limit_decision}
