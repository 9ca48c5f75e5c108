"""Text for a log line or a terminal, in one place: every log record and everything ``remediate`` prints.

Job reasons carry a failed task's message, which can hold alert-derived text (PromQL, label values) and what
a host answered; a newline in it would forge a log line of its own, and an escape sequence would act on the
operator's terminal (clear it, retitle it, hide text). So a line break, a tab, any other control character
(C0, DEL, C1 such as the one-byte CSI 0x9b) and any format character (a right-to-left override, a
zero-width joiner) is shown escaped, the way Python writes it (``\\n``, ``\\x1b``, ``\\u202e``), and never
sent as itself. Printable text, accents and other scripts included, is left as it is; so are backslashes, so a
PromQL regex reads as written (an escape that was already text stays text: nothing here can act).

The collection's own one_line (plugins/module_utils/text.py) does the same for the report and the timeline,
where line breaks become spaces; here they stay visible, as a log needs.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from typing import TextIO

SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ACTIVE = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # control, format, lone surrogates, line and paragraph separators


def _escaped(char: str) -> str:
    if char in SHORT:
        return SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text: object) -> str:
    """``text`` as one inert line: line breaks and every control or format character escaped."""
    text = str(text)
    if text.isprintable():  # the common case, at C speed (isprintable is False for all of ACTIVE)
        return text
    return "".join(_escaped(c) if unicodedata.category(c) in ACTIVE else c for c in text)


def lines(text: object) -> str:
    """``text`` of several lines (a report, a playbook's output) kept as lines, each made inert: a line
    break ends a line (a lone carriage return, which would overwrite one, is escaped), nothing else acts."""
    return "\n".join(one_line(line) for line in str(text).split("\n"))


def json_text(value, **options) -> str:
    """``value`` as JSON for a terminal: json.dumps escapes every control character but DEL; this does it too,
    so the text stays valid JSON and inert."""
    return json.dumps(value, ensure_ascii=True, **options).replace("\x7f", "\\u007f")


def say(text: object = "", file: TextIO | None = None, block: bool = False) -> None:
    """Print ``text`` for a terminal: one inert line, or with ``block`` inert lines (see ``lines``)."""
    print(lines(text) if block else one_line(text), file=file or sys.stdout, flush=True)


class OneLineFormatter(logging.Formatter):
    """Each log record as exactly one line: its message, arguments and any traceback escaped (``one_line``),
    so no value logged can start a line of its own or reach the terminal as a control sequence."""

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def setup_logging(level: int, fmt: str = "%(asctime)s %(levelname)s %(message)s") -> None:
    """The process's logging: ``level`` and above to stderr, one line a record."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
