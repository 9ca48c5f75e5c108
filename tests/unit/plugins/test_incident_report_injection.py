"""The post-incident report renders every alert-derived value as inert text on one line.

Alert data is hostile: a summary holding a tag, a name holding a newline and a heading, a reason holding
a link. Each report here is rendered to HTML by a CommonMark renderer with GFM tables and raw HTML allowed
(as a Git forge or a wiki shows report.md): the page must have the same structure (the same elements, in
the same order) as the report of the same incident with plain values, and every hostile value must be
on the page as the text it was, on one line.
"""

from __future__ import annotations

import re

import pytest
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_report import render
from report_page import Page, to_html

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "ok\n## Root Cause\nIt was [the intern](https://evil.example/phish) - see ![x](https://evil.example/p.png)",
    "<script>alert(document.cookie)</script>",
    "a | b | c\n|---|---|---|\n| forged | row | here |",
    "**bold** _em_ ~~gone~~ `code` <https://evil.example> [ref]: https://evil.example",
    "\x1b[31mred\x1b[0m\r\ncarriage\u2028separator\u202eevil\x00nul",
    "&lt;img src=x onerror=alert(2)&gt; &#60;b&#62;",
    "trailing backslash \\",
    "- a list\n1. another\n> quoted\n    indented code\n=====",
    "$\\href{https://evil.example}{math}$ <!-- comment --> <details open>",
]


def field(i: int) -> str:
    """The i-th hostile value (each field gets a different one, all of them used)."""
    return HOSTILE[i % len(HOSTILE)]


def events(value) -> list[dict]:
    """An incident whose every alert-derived field holds ``value(n)``."""
    plan = {"id": value(0), "service": value(1), "mitigation": value(2), "level": value(3), "severity": value(4),
            "decision": value(5), "act": True,
            "alert": {"name": value(6), "starts_at": "2026-11-23T10:00:00Z",
                      "labels": {"alertname": value(6), "instance": value(7)},
                      "annotations": {"summary": value(8), "description": value(9)}}}  # fmt: skip
    outcome = {"status": "failed", "reason": value(10), "mitigation": value(2), "ended": "2026-11-23T10:01:30",
               "actions": [{"step": value(11), "outcome": value(12), "seconds": 1.5, "detail": value(13)}, value(14)],
               "silence": {"id": value(15), "state": value(16)}, "evidence": value(17),
               "verification": [{"check": value(18), "result": value(19)}],
               # a service's diagnosis queries: their labels and values come from Prometheus, data like an alert's
               "diagnosis": {"queries": [
                   {"name": value(26), "query": value(27), "error": "", "series_total": 3, "truncated": True,
                    "series": [{"metric": {"endpoint": value(28), value(29): value(30)}, "value": value(31)},
                               {"metric": {"endpoint": value(32)}, "value": 0.25}]},
                   {"name": value(33), "query": value(34), "error": value(35), "series_total": 0, "series": []}]},
               "notifications": [{"kind": "slack", "name": value(36), "event": "decision", "status": "failed",
                                  "reason": value(37)}]}  # fmt: skip
    host = value(20)

    def event(kind, time, **fields):
        return {"event": kind, "time": time, "host": host, "incident": "INC-1", **fields}

    return [
        event("incident", "2026-11-23T10:00:00.000Z", phase="", data=plan),
        event("phase", "2026-11-23T10:00:01.000Z", phase=value(21)),
        event("task", "2026-11-23T10:00:02.000Z", phase=value(21), task=value(22), status="changed", result=value(23)),
        event(
            "task", "2026-11-23T10:00:03.000Z", phase=value(21), task=value(24), status="failed", result=value(25) * 40
        ),  # a long one: cut to the table's limit, never inside an escape
        event("outcome", "2026-11-23T10:01:30.000Z", phase="close", data=outcome),
    ]


def test_hostile_values_leave_the_structure_of_the_page_as_it_is():
    plain = render(events(lambda n: f"plain{n}"))
    hostile = render(events(field))
    assert len(hostile.splitlines()) == len(plain.splitlines()), "a value added or removed a line"
    plain_page, page = Page(to_html(plain)), Page(to_html(hostile))
    assert page.tags == plain_page.tags, "a value added an element (heading, link, image, tag, row, emphasis)"
    assert page.comments == []
    sections = [line for line in hostile.splitlines() if line.startswith("## ")]
    assert sections == [line for line in plain.splitlines() if line.startswith("## ")], "the template's sections only"


@pytest.mark.parametrize("value", HOSTILE)
def test_each_value_is_on_the_page_as_the_text_it_was_on_one_line(value):
    report = render(events(lambda n: value))
    page = Page(to_html(report))
    assert page.tags == Page(to_html(render(events(lambda n: "plain")))).tags, "a value added an element"
    text = "".join(page.text)
    shown = " ".join(value.split())  # line breaks are one space
    shown = re.sub(r"[\x00-\x08\x0e-\x1f\x7f\u202e]", lambda m: f"\\x{ord(m.group(0)):02x}"
                   if ord(m.group(0)) < 0x100 else f"\\u{ord(m.group(0)):04x}", shown)  # fmt: skip
    assert shown in text, f"{shown!r} not shown literally in:\n{text[:3000]}"
    assert "## Root Cause" in report and report.count("\n## Root Cause\n") == 1


def test_no_control_character_reaches_the_report():
    report = render(events(field))
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\u202e]", report), "control characters in the file"


def test_credentials_in_urls_are_redacted():
    report = render(events(lambda n: "proxy http://admin:hunter2@corp.proxy.test:3128 refused"))
    assert "hunter2" not in report and "admin:" not in report
    assert "http://\\*\\*\\*@corp.proxy.test:3128" in report
    assert "http://***@corp.proxy.test:3128" in "".join(Page(to_html(report)).text)


def test_plain_values_read_as_before():
    report = render(events(lambda n: f"demo_app-{n}.service (web1:8080)"))
    assert "Alert `demo_app-6.service (web1:8080)` fired for demo_app-1.service (web1:8080): demo_app-8" in report
    assert "| demo_app-20.service (web1:8080) | demo_app-21.service (web1:8080) | changed:" in report
