# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One health request judged against the expected status codes, JSON fields and body pattern.

``params`` holds method, url, body, status_code, expect_json and body_regex, as http_health's
options; unit_evidence and service_restart ask the same question with the same words.
"""

from __future__ import annotations

import contextlib

from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient
from ansible_collections.incident.remediation.plugins.module_utils.conditions import json_mismatches, show
from ansible_collections.incident.remediation.plugins.module_utils.errors import TransportError

MAX_BODY = 4096


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
