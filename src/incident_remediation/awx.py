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
(a timeout after AWX took it) is never sent again: the AWX job with our id is looked for; a receiver that
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
LAUNCHES = 3  # launches AWX refused for its rate (429: not taken) before the job fails
LOOKBACK = 600  # seconds before the job's creation an AWX job tagged with it is looked for (clocks differ)
CANCEL_WAIT = 60  # seconds a cancelled AWX job is given to say it is canceled
Ended = tuple[str, int, str]  # (state, rc, reason), as runner.execute gives them


class AwxError(RuntimeError):
    """An AWX request that failed; its message says which and why."""


class NoAnswer(AwxError):
    """No answer from AWX (unreachable, or it timed out), or an HTTP 5xx (its proxy while its web pod restarts):
    the request may have been done all the same."""


class Busy(NoAnswer):
    """HTTP 429: AWX's rate limit refused the request before doing it; it can be sent again."""


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
        if answer.status_code == 429:
            raise Busy(f"AWX answered {method} {path} with HTTP 429: {answer.text[:300]}")
        if answer.status_code >= 500:
            raise NoAnswer(f"AWX answered {method} {path} with HTTP {answer.status_code}: {answer.text[:300]}")
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
        """Launch the job's template. A launch AWX refused for its rate (429) is sent again a poll later; one
        without answer (a timeout, a reset, a 5xx: AWX may have taken it, and may take over 30 s to create its
        job) is never sent again: it is looked for in AWX, by its tag, for twice the request timeout."""
        template = self._template(job)
        body = {"extra_vars": {**variables, TAG: job["id"]}, "limit": job["target"],
                "job_type": "check" if job["check_mode"] else "run"}  # fmt: skip
        for attempt in range(1, LAUNCHES + 1):
            try:
                launched = self._call("POST", f"/api/v2/job_templates/{template}/launch/", json=body)
                break
            except Busy as exc:
                if attempt == LAUNCHES:
                    raise AwxError(f"{exc}; refused {LAUNCHES} times: not launched") from None
                log.warning("job %s: launch %d refused by AWX (%s): sent again", job["id"], attempt, exc)
                self.sleep(self.settings.poll_seconds)
            except NoAnswer as exc:
                log.warning("job %s: launch in AWX got no answer (%s): looking for it there, never sending it "
                            "again", job["id"], exc)  # fmt: skip
                return self._look_for(job, template, exc)
        ignored = launched.get("ignored_fields") or {}
        if ignored:
            raise AwxError(f"AWX ignored {sorted(ignored)}: enable prompting on launch for them in template {template}")
        return int(launched["job"])

    def _look_for(self, job: dict, template: int, exc: AwxError) -> int:
        """The AWX job of a launch that got no answer, looked for until twice the request timeout has passed."""
        until = time.monotonic() + 2 * self.request_timeout
        while True:
            try:
                found = self.find(job)
            except NoAnswer as missed:
                log.warning("job %s: AWX's jobs not listed (%s): trying again", job["id"], missed)
                found = None
            if found is not None:
                return found
            if time.monotonic() >= until:
                tag = f"{TAG}={job['id']}"
                raise AwxError(f"{exc}; not launched again, and no job of template {template} is tagged {tag} "
                               f"after {2 * self.request_timeout:g} s: it may be running in AWX all the same: "
                               f"look for {tag} in template {template}'s jobs") from None  # fmt: skip
            self.sleep(self.settings.poll_seconds)

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
        before): then it is cancelled in AWX. A poll AWX does not answer (or answers 5xx, 429, 401, ...) is tried
        again, never taken for an end: the job, and its host's lock, last while the AWX job may act."""
        route, bound = job_timeout(config, job), self.settings.timeout_seconds
        seconds = min(route, bound)
        deadline = time.monotonic() + seconds - (time.time() - since if since else 0)
        while True:
            status = self._status(job, awx_job)
            if status.get("status") in FINISHED:
                return self._finished(awx_job, status)
            if time.monotonic() >= deadline:
                return self._timed_out(job, awx_job, seconds, "awx.timeout_seconds" if bound < route else "")
            self.sleep(self.settings.poll_seconds)

    def _status(self, job: dict, awx_job: int) -> dict:
        """The AWX job's page; empty when AWX cannot say now. Only a 404 (AWX has no such job) is an end."""
        try:
            return self._call("GET", f"/api/v2/jobs/{awx_job}/")
        except AwxError as exc:
            if " with HTTP 404" in str(exc):
                raise AwxError(f"AWX has no job {awx_job} any more: {exc}") from None
            log.warning("job %s: AWX job %d not read (%s): trying again; %s stays held", job["id"], awx_job, exc,
                        job["target"])  # fmt: skip
            return {}

    def _held(self, job: dict, awx_job: int, reason: str) -> Ended:
        """A timed-out AWX job whose cancel AWX refused or did not confirm: followed until AWX reports its end,
        holding the host (the AWX job may act on it yet); then timed_out, saying so."""
        log.error("job %s: %s; %s stays held until AWX reports the job's end", job["id"], reason, job["target"])
        while True:
            status = self._status(job, awx_job).get("status")
            if status in FINISHED:
                return "timed_out", -1, f"{reason}: its host was held until AWX reported it {status}"
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
            return self._held(job, awx_job, f"{reason}; it could not be cancelled ({exc})")
        deadline = time.monotonic() + CANCEL_WAIT
        while time.monotonic() < deadline:
            status = self._status(job, awx_job).get("status")
            if status == "canceled":
                return "timed_out", -1, f"{reason}; it was canceled in AWX"
            if status in FINISHED:  # it ended by itself meanwhile
                return self._finished(awx_job, {"status": status})
            self.sleep(self.settings.poll_seconds)
        return self._held(job, awx_job, f"{reason}; AWX did not confirm its cancel within {CANCEL_WAIT:g} s")
