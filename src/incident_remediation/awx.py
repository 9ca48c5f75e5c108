"""Launch a job's playbook as an AWX / automation controller job template instead of the local runner.

    awx:
      url: https://awx.example.com
      token_file: /etc/incident-remediation/awx-token     # an OAuth2 token with execute on the templates
      job_templates:                                      # playbook -> job template id
        incident.remediation.remediate: 42
      verify_tls: true
      poll_seconds: 5
      timeout_seconds: 3600

The job template must prompt on launch for variables, limit and job type (ask_variables_on_launch,
ask_limit_on_launch, ask_job_type_on_launch). AWX marks variables given at launch unsafe by default
(ALLOW_JINJA_IN_EXTRA_VARS = "template"); keep that setting, or set it to "never".
"""

from __future__ import annotations

import json
import time

import requests

from incident_remediation.config import AwxSettings

FINISHED = {"successful": "succeeded", "failed": "failed", "error": "failed", "canceled": "cancelled"}


class AwxLauncher:
    """``execute`` for the dispatcher: launch, then poll the AWX job to its end."""

    def __init__(self, settings: AwxSettings, session: requests.Session | None = None, sleep=time.sleep) -> None:
        self.settings, self.sleep = settings, sleep
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {settings.token}", "Accept": "application/json"})
        self.session.verify = settings.verify_tls

    def _call(self, method: str, path: str, **kwargs) -> dict:
        url = self.settings.url.rstrip("/") + path
        try:
            answer = self.session.request(method, url, timeout=30, **kwargs)
        except requests.RequestException as exc:
            raise RuntimeError(f"AWX at {self.settings.url} cannot be reached: {exc}") from None
        if answer.status_code >= 400:
            raise RuntimeError(f"AWX answered {method} {path} with HTTP {answer.status_code}: {answer.text[:300]}")
        try:
            return answer.json()
        except ValueError:
            raise RuntimeError(f"AWX answered {method} {path} with something that is not JSON") from None

    def launch(self, job: dict, variables: dict) -> int:
        template = self.settings.job_templates.get(job["playbook"])
        if template is None:
            raise RuntimeError(f"no AWX job template for playbook {job['playbook']} (awx.job_templates)")
        body = {"extra_vars": variables, "limit": job["target"], "job_type": "check" if job["check_mode"] else "run"}
        launched = self._call("POST", f"/api/v2/job_templates/{template}/launch/", json=body)
        ignored = launched.get("ignored_fields") or {}
        if ignored:
            raise RuntimeError(
                f"AWX ignored {sorted(ignored)}: enable prompting on launch for them in template {template}"
            )
        return int(launched["job"])

    def __call__(self, config, job: dict) -> tuple[str, int, str]:
        try:
            awx_job = self.launch(job, json.loads(job["extravars"]))
            deadline = time.monotonic() + self.settings.timeout_seconds
            while time.monotonic() < deadline:
                status = self._call("GET", f"/api/v2/jobs/{awx_job}/")
                if status.get("status") in FINISHED:
                    state = FINISHED[status["status"]]
                    explained = status.get("job_explanation") or "see its output in AWX"
                    reason = "" if state == "succeeded" else f"AWX job {awx_job} {status['status']}: {explained}"
                    return state, 0 if state == "succeeded" else 1, reason
                self.sleep(self.settings.poll_seconds)
            return "failed", -1, f"AWX job {awx_job} did not finish within {self.settings.timeout_seconds:g} s"
        except RuntimeError as exc:
            return "failed", -1, str(exc)
