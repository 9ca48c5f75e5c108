# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: set_paths
short_description: Set and remove keys of a nested mapping by dotted path
version_added: 0.1.0
description:
  - Returns a copy of O(_input) with each O(values) key (a dotted path such as V(providers.flaky.active)) set, and
    each O(remove) path deleted. Key order is kept; new keys go last. Missing intermediate mappings are created.
  - A path through something that is not a mapping raises a clear error instead of replacing it.
  - This is how the config_change role edits a YAML config.
author: incident.remediation contributors
positional: _input, values
options:
  _input:
    description: The mapping (a parsed config).
    type: dict
    required: true
  values:
    description: Dotted path to new value.
    type: dict
    default: {}
  remove:
    description: Dotted paths to delete; a path that is not there is ignored.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Disable a provider and raise the log level
  ansible.builtin.set_fact:
    new_config: "{{ config | incident.remediation.set_paths({'providers.flaky.active': false, 'log_level': 'debug'}) }}"
"""

RETURN = r"""
_value:
  description: The edited copy.
  type: dict
"""

import copy
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _walk(data: dict, path: str, create: bool):
    parts = path.split(".")
    if not path or any(part == "" for part in parts):
        raise AnsibleFilterError(f"set_paths: {path!r} is not a dotted path")
    node = data
    for depth, part in enumerate(parts[:-1]):
        if part not in node:
            if not create:
                return None, parts[-1]
            node[part] = {}
        if not isinstance(node[part], dict):
            where = ".".join(parts[: depth + 1])
            raise AnsibleFilterError(f"set_paths: {where} is a {type(node[part]).__name__}, not a mapping ({path})")
        node = node[part]
    return node, parts[-1]


def set_paths(data, values=None, remove=None):
    if not isinstance(data, Mapping):
        raise AnsibleFilterError(f"set_paths: expected a mapping, got {type(data).__name__}")
    result = copy.deepcopy(dict(data))
    for path, value in (values or {}).items():
        node, key = _walk(result, str(path), create=True)
        node[key] = value
    for path in remove or []:
        node, key = _walk(result, str(path), create=False)
        if node is not None:
            node.pop(key, None)
    return result


class FilterModule:
    def filters(self):
        return {"set_paths": set_paths}
