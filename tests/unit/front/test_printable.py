"""Log lines and terminal output made inert in one place (printable): what a job reason can carry, from an
alert's PromQL to a host's answer, never starts a line of its own nor acts on the operator's terminal."""

from __future__ import annotations

import io
import json
import logging

import pytest

from incident_remediation import cli
from incident_remediation.printable import OneLineFormatter, json_text, lines, one_line, say

HOSTILE = "rate(x[5m]) > 0\n2026-12-01 09:00:00,000 INFO forged\r\x1b[2J\x1b]0;t\x07\x9b31m\u202eevil\u2028\x00\x7f\tz"
ESCAPED = ("rate(x[5m]) > 0\\n2026-12-01 09:00:00,000 INFO forged\\r\\x1b[2J\\x1b]0;t\\x07\\x9b31m\\u202eevil\\u2028"
           "\\x00\\x7f\\tz")  # fmt: skip


def test_one_line_escapes_line_breaks_controls_and_format_characters():
    assert one_line(HOSTILE) == ESCAPED
    assert one_line('Grüße, 東京 {instance=~"web\\\\d+"} \u00a0') == 'Grüße, 東京 {instance=~"web\\\\d+"} \u00a0'
    assert one_line("\U000e0041 tag") == "\\U000e0041 tag", "a tag character (format) beyond the BMP"
    assert one_line(42) == "42"


def test_lines_keep_lines_and_escape_the_rest():
    assert lines("# Report\nline \x1b[31mred\r\nend") == "# Report\nline \\x1b[31mred\\r\nend"


def test_json_for_a_terminal_is_still_json_and_inert():
    text = json_text({"reason": HOSTILE}, indent=2)
    assert json.loads(text) == {"reason": HOSTILE}
    assert one_line(text.replace("\n", "")) == text.replace("\n", ""), "nothing left to escape"


@pytest.mark.parametrize("block", [False, True])
def test_say_prints_inert_text(block):
    out = io.StringIO()
    say(HOSTILE, file=out, block=block)
    assert out.getvalue() == (ESCAPED.replace("\\n", "\n", 1) if block else ESCAPED) + "\n"


def test_a_log_record_with_a_traceback_is_one_escaped_line():
    record = logging.LogRecord("incident_remediation", logging.ERROR, __file__, 1, "job %s: failed %s",
                               ("J1", HOSTILE), None)  # fmt: skip
    try:
        raise ValueError("bad\nsecond line")
    except ValueError:
        import sys  # noqa: PLC0415

        record.exc_info = sys.exc_info()
    text = OneLineFormatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in text and "\x1b" not in text and "\r" not in text
    assert text.startswith(f"ERROR job J1: failed {ESCAPED}\\nTraceback (most recent call last):")
    assert text.endswith("ValueError: bad\\nsecond line")


def test_remediate_logs_through_the_one_line_formatter(tmp_path, capsys):
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        assert cli.main(["--config", str(tmp_path / "missing.yml"), "jobs"]) == 2
        (handler,) = root.handlers
        assert isinstance(handler.formatter, OneLineFormatter)
    finally:
        root.handlers[:], root.level = kept
    assert "missing.yml" in capsys.readouterr().err
