"""Launch a job's playbook as an AWX / automation controller job template instead of the local runner.

    awx:
      url: https://awx.example.com
      token_file: /etc/incident-remediation/awx-token     # an OAuth2 token with execute on the templates
      job_templates:                                      # playbook -> job template id
        incident.remediation.remediate: 42
      verify_tls: true
      poll_seconds: 5
      timeout_seconds: 3600                               # an upper bound beside each route's timeout

The job template must prompt on launch for variables, limit and job type (ask_variables_on_launch,
ask_limit_on_launch, ask_job_type_on_launch). AWX marks variables given at launch unsafe by default
(ALLOW_JINJA_IN_EXTRA_VARS = "template"); keep that setting, or set it to "never".

One AWX job per job, whatever happens to the receiver: the launch carries our job id in its variables
(``remediate_job_id``), and the AWX job id is journaled as soon as AWX answers. A launch whose answer is lost
(a timeout after AWX took it) looks for the AWX job with our id before it launches again; a receiver that
restarts follows the AWX job of each job it had running to its end (``resume``) instead of marking it
interrupted; a job past its timeout is cancelled in AWX, not left running there. AWX refuses filtering on
extra_vars, so the lookup lists the template's jobs for the same limit created since the job was, and reads
each one's variables.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time

import requests
import yaml

from incident_remediation.config import AwxSettings, Config
from incident_remediation.journal import Journal
from incident_remediation.runner import describe_failure, job_timeout, timed_out

log = logging.getLogger("incident_remediation")
FINISHED = {"successful": "succeeded", "failed": "failed", "error": "failed", "canceled": "cancelled"}
TAG = "remediate_job_id"  # the extra variable naming our job in the AWX job launched for it
LOOKBACK = 600  # seconds before the job's creation an AWX job tagged with it is looked for (clocks differ)
CANCEL_WAIT = 60  # seconds a cancelled AWX job is given to say it is canceled
Ended = tuple[str, int, str]  # (state, rc, reason), as runner.execute gives them


class AwxError(RuntimeError):
    """An AWX request that failed; its message says which and why."""


class NoAnswer(AwxError):
    """No answer from AWX (unreachable, or it timed out): the request may have been done all the same."""


def _variables(raw) -> dict:
    """An AWX job's extra_vars (JSON, or YAML, text; a mapping in some versions)."""
    if isinstance(raw, dict):
        return raw
    try:
        loaded = yaml.safe_load(raw) if isinstance(raw, str) else None
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


class AwxLauncher:
    """``execute`` for the dispatcher: launch, then poll the AWX job to its end; ``resume`` after a restart."""

    def __init__(self, settings: AwxSettings, session: requests.Session | None = None, sleep=time.sleep,
                 request_timeout: float = 30) -> None:  # fmt: skip
        self.settings, self.sleep, self.request_timeout = settings, sleep, request_timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {settings.token}", "Accept": "application/json"})
        self.session.verify = settings.verify_tls
        self.journal: Journal | None = None

    def use_journal(self, journal: Journal) -> None:
        """Where the AWX job id of each job is written as soon as it is known (the dispatcher's journal)."""
        self.journal = journal

    def _call(self, method: str, path: str, **kwargs) -> dict:
        url = self.settings.url.rstrip("/") + path
        try:
            answer = self.session.request(method, url, timeout=self.request_timeout, **kwargs)
        except requests.RequestException as exc:
            raise NoAnswer(f"AWX at {self.settings.url} cannot be reached: {exc}") from None
        if answer.status_code >= 400:
            raise AwxError(f"AWX answered {method} {path} with HTTP {answer.status_code}: {answer.text[:300]}")
        if not answer.content:
            return {}
        try:
            return answer.json()
        except ValueError:
            raise AwxError(f"AWX answered {method} {path} with something that is not JSON") from None

    def _template(self, job: dict) -> int:
        template = self.settings.job_templates.get(job["playbook"])
        if template is None:
            raise AwxError(f"no AWX job template for playbook {job['playbook']} (awx.job_templates)")
        return template

    def find(self, job: dict) -> int | None:
        """The AWX job launched for ``job`` (tagged with its id), if AWX has one."""
        since = time.gmtime((job.get("created") or time.time()) - LOOKBACK)
        query = {"limit": job["target"], "created__gte": time.strftime("%Y-%m-%dT%H:%M:%SZ", since),
                 "order_by": "-id", "page_size": 50}  # fmt: skip
        listed = self._call("GET", f"/api/v2/job_templates/{self._template(job)}/jobs/", params=query)
        for found in listed.get("results") or []:
            variables = found.get("extra_vars")
            if variables is None:  # left out of lists by newer AWX: the job's own page has them
                variables = self._call("GET", f"/api/v2/jobs/{int(found['id'])}/").get("extra_vars")
            if _variables(variables).get(TAG) == job["id"]:
                return int(found["id"])
        return None

    def launch(self, job: dict, variables: dict) -> int:
        """Launch the job's template. A launch without answer (AWX may have taken it) is looked for in AWX, now
        and a poll later, before it is sent once more; a second one without answer is looked for the same way."""
        template = self._template(job)
        body = {"extra_vars": {**variables, TAG: job["id"]}, "limit": job["target"],
                "job_type": "check" if job["check_mode"] else "run"}  # fmt: skip
        for attempt in (1, 2):
            try:
                launched = self._call("POST", f"/api/v2/job_templates/{template}/launch/", json=body)
                break
            except NoAnswer as exc:
                log.warning("job %s: launch %d in AWX got no answer (%s): looking for it there", job["id"], attempt,
                            exc)  # fmt: skip
                found = self.find(job)
                if found is None:
                    self.sleep(self.settings.poll_seconds)
                    found = self.find(job)
                if found is not None:
                    return found
                if attempt == 2:
                    raise AwxError(f"{exc}; the launch got no answer twice and AWX has no job tagged {TAG}="
                                   f"{job['id']}: not launched") from None  # fmt: skip
        ignored = launched.get("ignored_fields") or {}
        if ignored:
            raise AwxError(f"AWX ignored {sorted(ignored)}: enable prompting on launch for them in template {template}")
        return int(launched["job"])

    def _record(self, job: dict, awx_job: int) -> None:
        if self.journal is None:
            return
        try:
            self.journal.set_awx_job(job["id"], awx_job)
        except sqlite3.Error as exc:  # a full disk: the tag still finds it after a restart
            log.error("job %s: AWX job %d, not journaled (%s); a restart finds it by its tag", job["id"], awx_job, exc)

    def __call__(self, config: Config | None, job: dict) -> Ended:
        try:
            awx_job = self.launch(job, json.loads(job["extravars"]))
            self._record(job, awx_job)
            return self.follow(config, job, awx_job)
        except AwxError as exc:
            return "failed", -1, str(exc)

    def resume(self, config: Config | None, job: dict) -> Ended:
        """A job the receiver had running when it stopped: follow its AWX job (journaled, else found by its tag)
        to its end; one AWX never had is interrupted, not launched again."""
        try:
            awx_job = job.get("awx_job") or self.find(job)
            if awx_job is None:
                return "interrupted", -1, (
                    f"the receiver stopped before AWX had a job for it (no job of template {self._template(job)} "
                    f"is tagged {TAG}={job['id']}): not launched again")  # fmt: skip
            self._record(job, awx_job)
            log.info("job %s: following AWX job %d, started before the receiver restarted", job["id"], awx_job)
            return self.follow(config, job, awx_job, since=job.get("started"))
        except AwxError as exc:
            return "failed", -1, str(exc)

    def follow(self, config: Config | None, job: dict, awx_job: int, since: float | None = None) -> Ended:
        """Poll ``awx_job`` to its end, or to the job's timeout (counted from ``since``, its start, when it began
        before): then it is cancelled in AWX. A poll without answer is tried again, not taken for an end."""
        route, bound = job_timeout(config, job), self.settings.timeout_seconds
        seconds = min(route, bound)
        deadline = time.monotonic() + seconds - (time.time() - since if since else 0)
        while True:
            try:
                status = self._call("GET", f"/api/v2/jobs/{awx_job}/")
            except NoAnswer as exc:
                log.warning("job %s: AWX job %d not read (%s): trying again", job["id"], awx_job, exc)
                status = {}
            if status.get("status") in FINISHED:
                return self._finished(awx_job, status)
            if time.monotonic() >= deadline:
                return self._timed_out(job, awx_job, seconds, "awx.timeout_seconds" if bound < route else "")
            self.sleep(self.settings.poll_seconds)

    def _events(self, awx_job: int, **query) -> list[dict]:
        """The AWX job's newest events matching ``query`` (none when AWX cannot say)."""
        try:
            found = self._call("GET", f"/api/v2/jobs/{awx_job}/job_events/",
                               params={**query, "order_by": "-counter", "page_size": 1})  # fmt: skip
        except AwxError as exc:
            log.warning("AWX job %d: its events cannot be read: %s", awx_job, exc)
            return []
        return [event for event in found.get("results") or [] if isinstance(event, dict)]

    def _finished(self, awx_job: int, status: dict) -> Ended:
        state = FINISHED[status["status"]]
        if state == "succeeded":
            return state, 0, ""
        said = status.get("job_explanation") or ""
        if status["status"] == "failed":  # the playbook failed: its last failure that was not ignored says why
            failed = self._events(awx_job, failed="true", event__in="runner_on_failed,runner_on_unreachable")
            if failed:
                event = failed[0]
                res = (event.get("event_data") or {}).get("res") or {}
                said = describe_failure(
                    event.get("event", ""), event.get("host_name", "?"), event.get("task", "?"), res
                )
        return state, 1, f"AWX job {awx_job} {status['status']}: {said or 'see its output in AWX'}"

    def _timed_out(self, job: dict, awx_job: int, seconds: float, bound: str) -> Ended:
        started = self._events(awx_job, event="runner_on_start")
        running = (f"task {started[0].get('task', '?')!r} on {started[0].get('host_name', '?')}" if started
                   else "no task had started in AWX yet")  # fmt: skip
        reason = f"AWX job {awx_job} " + timed_out(job, seconds, running, bound)
        try:
            self._call("POST", f"/api/v2/jobs/{awx_job}/cancel/")
        except AwxError as exc:
            return "timed_out", -1, f"{reason}; it could not be cancelled ({exc}): cancel AWX job {awx_job} by hand"
        deadline = time.monotonic() + CANCEL_WAIT
        while time.monotonic() < deadline:
            try:
                status = self._call("GET", f"/api/v2/jobs/{awx_job}/").get("status")
            except AwxError:
                status = None
            if status == "canceled":
                return "timed_out", -1, f"{reason}; it was canceled in AWX"
            if status in FINISHED:  # it ended by itself meanwhile
                return self._finished(awx_job, {"status": status})
            self.sleep(self.settings.poll_seconds)
        return (
            "timed_out",
            -1,
            f"{reason}; AWX did not confirm its cancel within {CANCEL_WAIT} s: check AWX job {awx_job}",
        )
