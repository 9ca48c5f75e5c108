"""The bearer token check: every request to a guarded path is decided by one constant-time comparison of
the whole header against the whole expected value (never ==, never a prefix, never a length shortcut).

Timing itself is not asserted here (shared machines are noisy); bench/token_timing.py measures it.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from incident_remediation import receiver, webhook
from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.errors import ConfigError
from incident_remediation.journal import Journal

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def compared(monkeypatch):
    calls = []
    real = webhook.hmac.compare_digest

    def spy(given, expected):
        calls.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(webhook.hmac, "compare_digest", spy)
    return calls


def ask(tmp_path, headers: dict, path: str = "/jobs") -> int:
    async def scenario():
        config = Config(source="test", routes=[], data_dir=tmp_path)
        dispatcher = Dispatcher(config, Journal(tmp_path / "journal.sqlite"), lambda config, job: ("succeeded", 0, ""))
        async with TestClient(TestServer(receiver.make_app(dispatcher, TOKEN))) as client:
            answer = await client.get(path, headers=headers)
            return answer.status

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        f"Bearer {TOKEN[:-1]}",  # all but the last character
        f"Bearer {TOKEN}x",  # one more
        f"Bearer {TOKEN[:-1]}X",  # the last one wrong
        f"bearer {TOKEN.upper()}",  # the scheme's case is free, the token's is not
        f"Basic {TOKEN}",
        f"Bearer\t{TOKEN}",  # RFC 9110: the scheme and the credentials are separated by spaces
        f"Bearer{TOKEN}",
        f"BearerX {TOKEN}",
        "Bearer " + "é" * 10,  # not ASCII
    ],
)
def test_wrong_tokens_are_refused_after_one_full_comparison(tmp_path, compared, header):
    status = ask(tmp_path, {} if header is None else {"Authorization": header})
    assert status == 401
    assert len(compared) == 1, "one comparison decides"
    given, expected = compared[0]
    assert expected == f"Bearer {TOKEN}".encode(), "against the whole expected header"
    scheme, space, credentials = (header or "").partition(" ")
    if space and scheme.lower() == "bearer":  # the scheme written as the expected header writes it, the rest as given
        assert given == f"Bearer {credentials.lstrip(' ')}".encode(), "with the whole header given"
    else:
        assert given == (header or "").encode(), "with the whole header given"


# RFC 9110 section 11.1: the authentication scheme is case-insensitive; 1*SP separates it from the token.
@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"bEaReR {TOKEN}",
                                    f"Bearer   {TOKEN}"])  # fmt: skip
def test_the_right_token_passes_through_the_same_comparison_whatever_the_schemes_case(tmp_path, compared, header):
    assert ask(tmp_path, {"Authorization": header}) == 200
    assert compared == [(f"Bearer {TOKEN}".encode(), f"Bearer {TOKEN}".encode())]


def test_health_and_metrics_need_no_token_and_compare_nothing(tmp_path, compared):
    assert ask(tmp_path, {}, "/healthz") == 200 and ask(tmp_path, {}, "/metrics") == 200
    assert compared == []


# A token file holds the token on one line (a trailing newline is fine). Several lines, or a token with spaces
# or control characters inside, are refused when the receiver starts, naming the file: taking the first line
# could run with a token the operator did not mean (a file of two tokens, a comment above the token), and the
# whole content could never match a header, so every alert would get 401 with nothing saying why.
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("first-token-0123456789\nsecond-token-0123456789\n", "holds 2 lines"),
        ("# the receiver's token\ntoken-0123456789abcdef\n", "holds 2 lines"),
        ("token-0123456789abcdef\r\nmore\r\n", "holds 2 lines"),
        ("token-0123456789 abcdef\n", "has a space or a control character"),
        ("token-0123456789\x1b[2Jabcdef", "has a space or a control character"),
    ],
)
def test_a_token_file_of_several_lines_or_with_spaces_is_refused_naming_it(tmp_path, monkeypatch, content, problem):
    monkeypatch.delenv("REMEDIATE_TOKEN", raising=False)
    (tmp_path / "token").write_text(content, newline="")
    config = Config(source="remediate.yml", routes=[], token_file=str(tmp_path / "token"))
    with pytest.raises(ConfigError) as caught:
        config.token()
    assert (caught.value.source, caught.value.key) == ("remediate.yml", "token_file")
    assert caught.value.problem.startswith(f"{tmp_path / 'token'} {problem}"), caught.value.problem
    assert "0123456789" not in str(caught.value), "and the error never shows the token"


def test_a_token_on_one_line_with_a_trailing_newline_is_the_token(tmp_path, monkeypatch):
    monkeypatch.delenv("REMEDIATE_TOKEN", raising=False)
    (tmp_path / "token").write_text(f"  {TOKEN}\r\n")
    assert Config(source="r.yml", routes=[], token_file=str(tmp_path / "token")).token() == TOKEN


def test_a_token_in_the_environment_with_a_newline_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("REMEDIATE_TOKEN", f"{TOKEN}\nother-0123456789abcdef")
    with pytest.raises(ConfigError) as caught:
        Config(source="r.yml", routes=[]).token()
    assert caught.value.problem.startswith("REMEDIATE_TOKEN holds 2 lines"), caught.value.problem
