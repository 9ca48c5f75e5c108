#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: http_health
short_description: Wait until an HTTP health endpoint answers healthy
version_added: 0.1.0
description:
  - Polls an HTTP endpoint until its answer is healthy, or fails once O(wait) seconds have passed with a message
    that says what was expected and what was last seen.
  - Healthy means all of the given conditions hold on one answer, an HTTP status in O(status_code), every
    O(expect_json) field equal to its value, and O(body_regex) found in the body.
  - Read-only, it runs the same way in check mode.
  - Uses the Python standard library only, so it runs on any managed host (for a service's own loopback
    endpoint) or delegated to the controller.
author: incident.remediation contributors
extends_documentation_fragment:
  - incident.remediation.http_api
  - incident.remediation.read_only
options:
  url:
    description: The health endpoint, for example V(http://127.0.0.1:8080/health).
    type: str
    required: true
  method:
    description: HTTP method.
    type: str
    choices: [GET, HEAD, POST]
    default: GET
  body:
    description: Request body, sent with O(method=POST).
    type: str
  status_code:
    description: HTTP statuses that count as healthy.
    type: list
    elements: int
    default: [200]
  expect_json:
    description:
      - Fields the JSON answer must have, as dotted path to expected value (V(status), V(checks.db.state),
        V(items.0.name)).
      - Values of different types compare as text (V(200) equals V("200")); booleans compare strictly.
    type: dict
    default: {}
  body_regex:
    description: A regular expression that must be found in the body.
    type: str
  wait:
    description: Seconds to keep polling before giving up. V(0) checks once.
    type: float
    default: 30
  interval:
    description: Seconds between two polls.
    type: float
    default: 1
  timeout:
    description: Seconds to wait for one answer.
    type: float
    default: 5
  follow_redirects:
    description: Follow HTTP redirects; when V(false) the redirect status itself is judged.
    type: bool
    default: true
  fail_unhealthy:
    description:
      - Fail when the endpoint is not healthy by the deadline. Set V(false) to get RV(healthy=false) back and
        decide in the play (a role that escalates does).
    type: bool
    default: true
notes:
  - The body is returned only up to 4 KiB (RV(body)).
seealso:
  - module: incident.remediation.prometheus_query
"""

EXAMPLES = r"""
- name: Confirm the service answers ready within 30 s (runbook step "restart and confirm ready")
  incident.remediation.http_health:
    url: http://127.0.0.1:8080/health
    expect_json:
      status: ready
    wait: 30

- name: Check once, without failing, and branch on the answer
  incident.remediation.http_health:
    url: https://app.example.com/api/health/ping
    status_code: [200, 204]
    wait: 0
    fail_unhealthy: false
  register: ping

- name: A nested field and a body pattern, through a self-signed test endpoint
  incident.remediation.http_health:
    url: https://10.0.0.5:8443/status
    validate_certs: false
    expect_json:
      checks.database.state: up
    body_regex: '"version":\s*"2\.'
"""

RETURN = r"""
healthy:
  description: Whether the last answer met every condition.
  returned: always
  type: bool
  sample: true
status:
  description: HTTP status of the last answer; V(-1) when there was no answer.
  returned: always
  type: int
  sample: 200
json:
  description: The last answer's body as JSON, when it was JSON.
  returned: always
  type: raw
  sample: {"status": "ready", "version": "1.0.0"}
body:
  description: The last answer's body as text, up to 4 KiB.
  returned: always
  type: str
elapsed:
  description: Seconds spent polling.
  returned: always
  type: float
  sample: 2.013
attempts:
  description: Number of requests made.
  returned: always
  type: int
  sample: 3
error:
  description: Why the last answer was not healthy; empty when it was.
  returned: always
  type: str
  sample: "HTTP 503, status = \"starting\" (expected \"ready\")"
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.arguments import (
    check_positive,
    client_from_params,
    http_api_spec,
)
from ansible_collections.incident.remediation.plugins.module_utils.health import expectation, judge
from ansible_collections.incident.remediation.plugins.module_utils.polling import poll
from ansible_collections.incident.remediation.plugins.module_utils.text import redact_userinfo


def main() -> None:
    spec = http_api_spec(timeout=5)
    spec.update(
        method={"type": "str", "choices": ["GET", "HEAD", "POST"], "default": "GET"},
        body={"type": "str"},
        status_code={"type": "list", "elements": "int", "default": [200]},
        expect_json={"type": "dict", "default": {}},
        body_regex={"type": "str"},
        wait={"type": "float", "default": 30},
        interval={"type": "float", "default": 1},
        follow_redirects={"type": "bool", "default": True},
        fail_unhealthy={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    check_positive(module, "wait", "interval", "timeout")
    try:
        pattern = re.compile(params["body_regex"]) if params["body_regex"] else None
    except re.error as exc:
        module.fail_json(msg=f"body_regex is not a valid regular expression: {exc}")
    client = client_from_params(params, follow_redirects=params["follow_redirects"])

    outcome = poll(lambda: judge(params, client, pattern), wait=params["wait"], interval=params["interval"])
    seen = outcome.last
    result = {
        "changed": False,
        "healthy": outcome.satisfied,
        "status": seen["status"],
        "json": seen["json"],
        "body": seen["body"],
        "elapsed": round(outcome.elapsed, 3),
        "attempts": outcome.attempts,
        "error": seen["error"],
    }
    if not outcome.satisfied and params["fail_unhealthy"]:
        module.fail_json(
            msg=f"{redact_userinfo(params['url'])} not healthy after {outcome.elapsed:.1f} s "
            f"({outcome.attempts} attempts): "
            f"expected {expectation(params)}; last seen: {seen['error']}",
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
