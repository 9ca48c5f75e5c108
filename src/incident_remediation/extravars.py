"""Extra variables for ansible-playbook in which alert data can never be a template.

ansible-core renders templates found in extra variables, so an alert label such as
``{{ lookup('pipe', 'id') }}`` would run a command if passed as plain JSON. Here every
string is wrapped as ``{"__ansible_unsafe": "text"}``, which ansible-core loads as an
unsafe string: never templated, and still a string (``"010"`` stays ``"010"``, a time
stays text; YAML's ``!unsafe`` tag would turn them into a number and a datetime).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

UNSAFE = "__ansible_unsafe"


def mark_unsafe(value):
    """``value`` with every string (not the keys) wrapped for ansible-core's JSON loader."""
    if isinstance(value, str):
        return {UNSAFE: value}
    if isinstance(value, dict):
        return {str(key): mark_unsafe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mark_unsafe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"cannot pass a {type(value).__name__} to a playbook")


def dumps_unsafe(data: dict) -> str:
    """JSON text of ``data`` for ``-e @file``, every string marked unsafe."""
    if not isinstance(data, dict):
        raise TypeError(f"extra variables must be a mapping, got {type(data).__name__}")
    return json.dumps(mark_unsafe(data), ensure_ascii=True, sort_keys=True)


def write_unsafe(path: str | Path, data: dict) -> Path:
    """Write ``data`` as an extra-variables file for ``ansible-playbook -e @PATH``, readable by its owner only."""
    path = Path(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(dumps_unsafe(data))
    return path
