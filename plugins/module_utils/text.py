# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text from hosts and alerts made safe to record and show, in one place: credentials in URLs redacted,
everything on one line with control characters visible.

Used on the host (modules that read a process's environment) and on the controller (the timeline
callback, the post-incident report, the role messages through the ``redact_userinfo`` filter).
The report's Markdown escaping is in plugins/plugin_utils/incident_report.py, on top of these.
"""

from __future__ import annotations

import re
import unicodedata

REDACTED = "***"

# scheme://userinfo@ - userinfo cannot hold '/', '?', '#' or a blank; it runs to the last '@' before them,
# so a password with a raw '@' in it is hidden whole.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://)[^/?#\s\"'<>\\]*@")
# user:password@host without a scheme (a proxy written as host:port with credentials before it)
_BARE_USERINFO = re.compile(r"(?<![\w/.:@%~-])[A-Za-z0-9._~%-]+:[^/?#\s\"'<>\\@]*@(?=[A-Za-z0-9\[])")


def redact_userinfo(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ``***``:
    ``http://admin:hunter2@proxy:3128`` becomes ``http://***@proxy:3128``."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _BARE_USERINFO.sub(f"{REDACTED}@", text)


def redact(value):
    """``value`` (a string, or lists and dicts of them, as in a task result) with every string redacted."""
    if isinstance(value, str):
        return redact_userinfo(value)
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


_ACTIVE = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format, lone surrogates, line and paragraph separators


def _visible(char: str) -> str:
    """The character as Python writes it escaped (as the front's incident_remediation/printable.py does)."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(value) -> str:
    """``value`` as text on one line: every run of blanks and line breaks (``\\n``, ``\\r``, ``\\u2028``, ...) is
    one space, and any other control or format character (ESC, NUL, a right-to-left override) is shown
    escaped (``\\x1b``, ``\\u202e``) instead of acting on the terminal or the page."""
    words = str(value).split()
    return " ".join("".join(_visible(c) if unicodedata.category(c) in _ACTIVE else c for c in word) for word in words)
