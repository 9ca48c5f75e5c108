# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's health: one HTTP request judged against the expected status codes, JSON fields (all of them,
every mismatch named) and body pattern; or the service's own health command, judged by its exit status.

``params`` holds method, url, body, status_code, expect_json and body_regex, as http_health's
options; unit_evidence and service_restart ask the same question with the same words. The health command
(seed 003's ``scripts/health_check.sh``) is an argv list run without a shell, bounded by a timeout after which
its whole process group is killed; the tails of its stdout and stderr are kept as evidence.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient
from ansible_collections.incident.remediation.plugins.module_utils.conditions import json_mismatches, show
from ansible_collections.incident.remediation.plugins.module_utils.errors import TransportError

MAX_BODY = 4096
MAX_OUTPUT = 2048  # bytes kept of a health command's stdout and of its stderr (the tail: where the verdict is)
COMMAND_TIMEOUT = 10.0


def judge(params: dict, client, pattern) -> tuple[bool, dict]:
    """One request: (healthy, what was seen)."""
    body = params["body"].encode() if params["body"] is not None else None
    try:
        response = client.request(params["method"], params["url"], body)
    except TransportError as exc:
        return False, {"status": -1, "json": None, "body": "", "error": exc.reason}
    seen = {"status": response.status, "json": None, "body": response.text[:MAX_BODY]}
    with contextlib.suppress(ValueError):
        seen["json"] = response.json()
    problems = []
    if response.status not in params["status_code"]:
        problems.append(f"HTTP {response.status} (expected {', '.join(map(str, params['status_code']))})")
    if params["expect_json"]:
        if seen["json"] is None:
            problems.append(f"body is not JSON: {show(seen['body'][:80])}")
        else:
            problems.extend(json_mismatches(seen["json"], params["expect_json"]))
    if pattern and not pattern.search(response.text):
        problems.append(f"body does not match /{pattern.pattern}/")
    seen["error"] = "; ".join(problems)
    return not problems, seen


def expectation(params: dict) -> str:
    parts = [f"HTTP {' or '.join(map(str, params['status_code']))}"]
    parts += [f"{path} = {show(value)}" for path, value in params["expect_json"].items()]
    if params["body_regex"]:
        parts.append(f"body matching /{params['body_regex']}/")
    return ", ".join(parts)


def probe(url: str, expect_json: dict, status_code: list, timeout: float):
    """A check for polling.poll: GET ``url`` and judge it (no body pattern, no redirects' options)."""
    client = HttpClient(timeout=timeout)
    question = {"method": "GET", "url": url, "body": None, "status_code": status_code, "expect_json": expect_json}
    return lambda: judge(question, client, None)


def command_problem(argv, timeout) -> str:
    """Why ``argv`` cannot be a health command (empty when it can): a program named absolutely or found on PATH."""
    if not isinstance(argv, list) or not argv or not all(isinstance(item, str) for item in argv) or not argv[0]:
        return "health_command must name a program (an argv list), e.g. [/usr/local/bin/health_check.sh, --quick]"
    if any("\0" in item for item in argv):
        return "health_command's arguments must not contain NUL bytes"
    program = argv[0]
    if "/" in program and not os.path.isabs(program):
        return (f"health_command's program {show(program)} must be an absolute path or a bare name found on PATH "
                "(a relative path would depend on the module's working directory)")  # fmt: skip
    if "/" not in program and shutil.which(program) is None:
        return f"health_command's program {program} is not found on PATH ({os.environ.get('PATH', '')})"
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        return f"health_command_timeout must be above 0 seconds, not {timeout}"
    return ""


def _tail(handle) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - MAX_OUTPUT))
    return handle.read().decode("utf-8", errors="replace")


def _last_line(*texts: str) -> str:
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1][:200]
    return ""


def run_health_command(argv: list[str], timeout: float) -> tuple[bool, dict]:
    """Run the health command once (no shell, stdin closed, cwd /): (healthy = exit 0, what was seen).

    Its output goes to files, not pipes, so a background child it leaves cannot hold the probe open; on timeout
    the command's whole process group (its own session) is killed. ``status`` is the exit status, -1 when the
    command could not run or was killed for its timeout, the negative signal number when a signal ended it.
    """
    seen = {"command": list(argv), "status": -1, "stdout": "", "stderr": "", "seconds": 0.0, "timed_out": False,
            "error": ""}  # fmt: skip
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd="/",
                                       start_new_session=True, close_fds=True)  # fmt: skip
        except OSError as exc:
            seen["error"] = f"{argv[0]} cannot run: {exc.strerror or exc}"
            return False, seen
        try:
            seen["status"] = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            seen["timed_out"] = True
        seen["seconds"] = round(time.monotonic() - started, 3)
        seen["stdout"], seen["stderr"] = _tail(out), _tail(err)
    if seen["timed_out"]:
        seen["error"] = f"{argv[0]} did not finish within {timeout:g} s: killed"
    elif seen["status"] < 0:
        seen["error"] = f"{argv[0]} was killed by signal {-seen['status']}"
    elif seen["status"] != 0:
        said = _last_line(seen["stderr"], seen["stdout"])
        seen["error"] = f"{argv[0]} exited {seen['status']}" + (f": {said}" if said else "")
    return seen["status"] == 0 and not seen["timed_out"], seen


def health_check(
    url: str, expect_json: dict, status_code: list, timeout: float, *, command: list, command_timeout: float
):
    """The service's health as a check for polling.poll: the URL, the command, or both (both must hold); None
    when the service describes neither (the caller then takes the unit being active).

    With both, what was seen is the HTTP answer with the command's run under ``command``, the errors joined."""
    ask_url = probe(url, expect_json, status_code, timeout) if url else None
    if not command:
        return ask_url
    if ask_url is None:
        return lambda: run_health_command(command, command_timeout)

    def both() -> tuple[bool, dict]:
        url_healthy, seen = ask_url()
        command_healthy, ran = run_health_command(command, command_timeout)
        errors = [error for error in (seen["error"], ran["error"]) if error]
        return url_healthy and command_healthy, {**seen, "command": ran, "error": "; ".join(errors)}

    return both
