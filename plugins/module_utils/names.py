# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names and paths the collection accepts, in one place: modules check them on the host, the roles
through the test plugins (plugins/test/names.py) before any task changes anything.

Every pattern ends in \\Z, not $: a $ would let a trailing newline through.
"""

from __future__ import annotations

import re

# A systemd unit name: it becomes a file name (budget, drop-in folder) and an argv item.
UNIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@\\-]{0,250}\Z")
# A release directory name under <root>/releases/.
RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")
# One component of a path the roles write under: no '/', no control or shell characters.
_COMPONENT = re.compile(r"^[A-Za-z0-9._@:+-]{1,255}\Z")


def is_unit_name(value) -> bool:
    return isinstance(value, str) and bool(UNIT_NAME.match(value))


def is_release_name(value) -> bool:
    return isinstance(value, str) and bool(RELEASE_NAME.match(value))


def is_safe_path(value) -> bool:
    """An absolute path of plain components: no '..' or '.', no empty component, no newline or shell character."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 4096:
        return False
    parts = value[1:].rstrip("/").split("/")
    return all(_COMPONENT.match(part) and part not in (".", "..") for part in parts)
