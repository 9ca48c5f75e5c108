"""health: an HTTP answer judged on several fields at once (seed 002), and the health command (seed 003).

Seed 002 P1-001/P1-003 ask for ``status == "ready"`` and ``dashboard_link == "connected"`` on one answer;
seed 003 runs ``./scripts/health_check.sh`` and reads its exit status. Both are judged here, for
http_health, unit_evidence and service_restart alike.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from ansible_collections.incident.remediation.plugins.module_utils import health
from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient

SEED_002 = {"status": "ready", "dashboard_link": "connected"}


def ask(httpserver, answer, expect: dict = SEED_002, status: int = 200) -> tuple[bool, dict]:
    if isinstance(answer, str):
        httpserver.expect_request("/health").respond_with_data(answer, status=status)
    else:
        httpserver.expect_request("/health").respond_with_json(answer, status=status)
    return health.probe(httpserver.url_for("/health"), expect, [200], 5)()


def test_both_fields_as_expected_is_healthy(httpserver):
    healthy, seen = ask(httpserver, {"status": "ready", "dashboard_link": "connected", "uptime_secs": 12})
    assert healthy and seen["error"] == ""


def test_one_field_missing_is_unhealthy_and_named(httpserver):
    healthy, seen = ask(httpserver, {"status": "ready"})
    assert not healthy
    assert seen["error"] == 'dashboard_link = (missing) (expected "connected")'


def test_one_field_different_is_unhealthy_and_named(httpserver):
    healthy, seen = ask(httpserver, {"status": "ready", "dashboard_link": "disconnected"})
    assert not healthy
    assert seen["error"] == 'dashboard_link = "disconnected" (expected "connected")'


def test_every_field_that_does_not_match_is_named(httpserver):
    healthy, seen = ask(httpserver, {"status": "starting", "dashboard_link": "disconnected"}, status=503)
    assert not healthy
    assert seen["error"] == (
        'HTTP 503 (expected 200); status = "starting" (expected "ready"); '
        'dashboard_link = "disconnected" (expected "connected")'
    )


def test_a_nested_dotted_path_is_one_of_the_fields(httpserver):
    expect = {"status": "ready", "health.dashboard_link": "connected"}
    healthy, _ = ask(httpserver, {"status": "ready", "health": {"dashboard_link": "connected"}}, expect)
    assert healthy
    httpserver.clear()
    healthy, seen = ask(httpserver, {"status": "ready", "health": {"dashboard_link": "gone"}}, expect)
    assert not healthy and seen["error"] == 'health.dashboard_link = "gone" (expected "connected")'


def test_a_body_that_is_not_json_is_unhealthy(httpserver):
    healthy, seen = ask(httpserver, "status=ready dashboard_link=connected")
    assert not healthy
    assert seen["json"] is None and seen["error"].startswith("body is not JSON: ")


def test_the_expectation_names_every_field():
    params = {"status_code": [200], "expect_json": SEED_002, "body_regex": None}
    assert health.expectation(params) == 'HTTP 200, status = "ready", dashboard_link = "connected"'


def test_judge_is_the_same_question_for_http_health(httpserver):
    httpserver.expect_request("/health").respond_with_json({"status": "ready", "dashboard_link": "disconnected"})
    params = {"method": "GET", "url": httpserver.url_for("/health"), "body": None, "status_code": [200],
              "expect_json": SEED_002}  # fmt: skip
    healthy, seen = health.judge(params, HttpClient(timeout=5), None)
    assert not healthy and "dashboard_link" in seen["error"] and "status =" not in seen["error"]


# --- the health command -------------------------------------------------------------------------------------


def script(tmp_path, body: str) -> str:
    path = tmp_path / "health_check.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def alive(pid: int) -> bool:
    """Running (a killed process not yet reaped by whoever adopted it is a zombie, not alive)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_exit_0_is_healthy_and_the_output_kept(tmp_path):
    healthy, seen = health.run_health_command([script(tmp_path, "echo all good\necho warn >&2\nexit 0\n")], 5)
    assert healthy, seen
    assert seen["status"] == 0 and seen["error"] == "" and seen["timed_out"] is False
    assert seen["stdout"] == "all good\n" and seen["stderr"] == "warn\n"


def test_exit_1_is_unhealthy_with_the_exit_status_and_output_tail(tmp_path):
    healthy, seen = health.run_health_command([script(tmp_path, "echo db: down >&2\nexit 1\n")], 5)
    assert not healthy
    assert seen["status"] == 1
    assert seen["error"] == f"{tmp_path}/health_check.sh exited 1: db: down"


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    pids = tmp_path / "pids"
    # the script leaves a grandchild behind (a sleep in the background), then hangs itself
    argv = [script(tmp_path, f"sleep 60 &\necho $! > {pids}\necho started\nsleep 60\n")]
    started = time.monotonic()
    healthy, seen = health.run_health_command(argv, 0.5)
    assert time.monotonic() - started < 5, "the probe is bounded by its timeout"
    assert not healthy and seen["timed_out"] is True and seen["status"] == -1
    assert seen["error"] == f"{argv[0]} did not finish within 0.5 s: killed" and seen["stdout"] == "started\n"
    grandchild = int(pids.read_text())
    for _ in range(50):  # the kill is sent; the grandchild (re-parented) goes away at once
        if not alive(grandchild):
            break
        time.sleep(0.05)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the command's background child survived the timeout")


def test_the_output_is_capped_to_its_tail(tmp_path):
    argv = [script(tmp_path, "head -c 1000000 /dev/zero | tr '\\0' x\necho THE-END\nexit 3\n")]
    healthy, seen = health.run_health_command(argv, 10)
    assert not healthy and seen["status"] == 3
    assert len(seen["stdout"]) <= health.MAX_OUTPUT and seen["stdout"].endswith("THE-END\n")


def test_an_argument_with_spaces_and_a_semicolon_stays_one_argument(tmp_path):
    marker = tmp_path / "pwned"
    argv = [script(tmp_path, 'printf "%s|" "$#" "$@"\n'), f"a b; touch {marker}", "$(id)"]
    healthy, seen = health.run_health_command(argv, 5)
    assert healthy, seen
    assert seen["stdout"] == f"2|a b; touch {marker}|$(id)|"
    assert not marker.exists(), "never a shell"


def test_a_bare_name_is_looked_up_on_path():
    healthy, seen = health.run_health_command(["true"], 5)
    assert healthy and seen["command"] == ["true"]


@pytest.mark.parametrize(
    ("argv", "timeout", "said"),
    [
        ([], 10, "health_command must name a program (an argv list)"),
        (["scripts/health_check.sh"], 10, "must be an absolute path or a bare name found on PATH"),
        (["no-such-health-check-here"], 10, "no-such-health-check-here is not found on PATH"),
        (["/bin/true", "x"], 0, "health_command_timeout must be above 0"),
        (["/bin/true"], -1, "health_command_timeout must be above 0"),
        (["", "x"], 10, "health_command must name a program (an argv list)"),
    ],
)
def test_bad_commands_are_refused(argv, timeout, said):
    assert said in health.command_problem(argv, timeout)


def test_a_good_command_has_no_problem(tmp_path):
    assert health.command_problem([script(tmp_path, "exit 0\n"), "--quick"], 10) == ""


def test_a_program_that_cannot_run_is_unhealthy_not_an_exception(tmp_path):
    path = tmp_path / "not-executable"
    path.write_text("exit 0\n")
    healthy, seen = health.run_health_command([str(path)], 5)
    assert not healthy and seen["status"] == -1 and "cannot run" in seen["error"]


def test_url_and_command_together_both_must_hold(httpserver, tmp_path):
    httpserver.expect_request("/health").respond_with_json(SEED_002)
    url = httpserver.url_for("/health")
    good, bad = script(tmp_path, "exit 0\n"), str(tmp_path / "bad.sh")
    (tmp_path / "bad.sh").write_text("#!/bin/sh\necho smoke test failed\nexit 2\n")
    (tmp_path / "bad.sh").chmod(0o755)
    healthy, seen = health.health_check(url, SEED_002, [200], 5, command=[good], command_timeout=5)()
    assert healthy and seen["json"] == SEED_002 and seen["command"]["status"] == 0
    healthy, seen = health.health_check(url, SEED_002, [200], 5, command=[bad], command_timeout=5)()
    assert not healthy and seen["status"] == 200
    assert seen["error"] == f"{bad} exited 2: smoke test failed"


def test_a_command_alone_is_the_health(tmp_path):
    healthy, seen = health.health_check("", {}, [200], 5, command=[script(tmp_path, "exit 0\n")], command_timeout=5)()
    assert healthy and seen["status"] == 0 and "json" not in seen
