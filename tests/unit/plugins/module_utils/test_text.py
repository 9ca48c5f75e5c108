"""module_utils/text.py: credentials in URLs redacted, any text on one inert line."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.text import one_line, redact, redact_userinfo


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("http://admin:hunter2@proxy:3128", "http://***@proxy:3128"),
        ("HTTPS_PROXY=https://tok3n@proxy.internal.test:3128/", "HTTPS_PROXY=https://***@proxy.internal.test:3128/"),
        ("socks5h://u:p@a@h:1/x?q=a@b#c@d", "socks5h://***@h:1/x?q=a@b#c@d"),  # a raw '@' in the password too
        ("['http://a:b@one', \"http://c:d@two\"]", "['http://***@one', \"http://***@two\"]"),
        ("HTTP_PROXY=admin:hunter2@proxy.internal.test:3128", "HTTP_PROXY=***@proxy.internal.test:3128"),
        ("http://proxy.internal.test:3128", "http://proxy.internal.test:3128"),
        ("ops@example.com, demo-app@1.service, 10:00 ok@host", "ops@example.com, demo-app@1.service, 10:00 ok@host"),
    ],
)
def test_userinfo_is_redacted_and_nothing_else(given, shown):
    assert redact_userinfo(given) == shown


def test_results_are_redacted_whole():
    result = {"msg": "it has http://a:b@p:1", "environment": {"HTTP_PROXY": "http://a:b@p:1"}, "rc": 1,
              "list": ["http://x:y@p", None]}  # fmt: skip
    assert redact(result) == {"msg": "it has http://***@p:1", "environment": {"HTTP_PROXY": "http://***@p:1"},
                              "rc": 1, "list": ["http://***@p", None]}  # fmt: skip


def test_one_line_flattens_breaks_and_shows_control_characters():
    assert one_line("a\nb\r\n\tc  d\u2028e\x85f\x0bg") == "a b c d e f g"
    shown = "\\x1b[2Jred\\x00\\x07\\x7f\\x9b\\u202eevil\\U000e0001"
    assert one_line("\x1b[2Jred\x00\x07\x7f\x9b\u202eevil\U000e0001") == shown
    assert one_line("  Ünïcode ok, back\\slash  ") == "Ünïcode ok, back\\slash"
    assert one_line(42) == "42"
