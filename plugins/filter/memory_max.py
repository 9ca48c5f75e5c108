# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: memory_max
short_description: Size a systemd MemoryMax value from an instance count
version_added: 0.1.0
description:
  - Computes O(_input) x O(per_instance_mb) + O(base_mb) megabytes and rounds the result up to a whole
    multiple of O(round_to), in systemd's notation (V(12G), V(1536M)).
  - The runbook formula (memory exhaustion, scenario C) is instances x 50 MB + 500 MB overhead, so 200
    instances need 10,500 MB and get C(MemoryMax=12G) with the default rounding to 2G.
  - Units are systemd's, powers of 1024 (V(1G) is 1024M).
author: incident.remediation contributors
positional: _input
options:
  _input:
    description: The number of instances; a whole or fractional number (rounded up), or its text.
    type: raw
    required: true
  per_instance_mb:
    description: Megabytes each instance needs.
    type: float
    default: 50
  base_mb:
    description: Megabytes of fixed overhead.
    type: float
    default: 500
  round_to:
    description: Round up to a multiple of this size, as V(512M), V(1G), V(2G), or a number of megabytes.
    type: raw
    default: 2G
"""

EXAMPLES = r"""
- name: The runbook case, 200 instances
  ansible.builtin.debug:
    msg: "MemoryMax={{ 200 | incident.remediation.memory_max }}"   # MemoryMax=12G

- name: A finer rounding for small services
  ansible.builtin.set_fact:
    memory_max: "{{ instances | incident.remediation.memory_max(per_instance_mb=20, base_mb=256, round_to='256M') }}"
"""

RETURN = r"""
_value:
  description: The limit in systemd notation, in G when it is a whole number of gigabytes, else in M.
  type: str
  sample: 12G
"""

import math
import re

from ansible.errors import AnsibleFilterError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([MGT]?)\s*$", re.IGNORECASE)
_MB = {"": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


def _number(value, name: str) -> float:
    if isinstance(value, bool):
        raise AnsibleFilterError(f"memory_max: {name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"memory_max: {name} must be a number, got {value!r}") from None
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise AnsibleFilterError(f"memory_max: {name} must be a finite number >= 0, got {value!r}")
    return number


def _size_mb(value) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        mb = float(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise AnsibleFilterError(f"memory_max: round_to must be a size like 512M or 2G, got {value!r}")
        mb = float(match.group(1)) * _MB[match.group(2).upper()]
    if mb <= 0:
        raise AnsibleFilterError(f"memory_max: round_to must be more than 0, got {value!r}")
    return mb


def memory_max(instances, per_instance_mb=50, base_mb=500, round_to="2G") -> str:
    count = math.ceil(_number(instances, "the instance count"))
    needed = count * _number(per_instance_mb, "per_instance_mb") + _number(base_mb, "base_mb")
    unit = _size_mb(round_to)
    limit_mb = math.ceil(needed / unit) * unit if needed else unit
    limit_mb = math.ceil(limit_mb)
    if limit_mb % 1024 == 0:
        return f"{limit_mb // 1024}G"
    return f"{limit_mb}M"


class FilterModule:
    def filters(self):
        return {"memory_max": memory_max}
