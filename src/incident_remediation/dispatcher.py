"""From alerts to jobs: dedupe, cooldown, cancellation, per-target locks and concurrency limits.

``submit`` decides and journals synchronously (so an alert is committed before the receiver answers)
and schedules the jobs on the event loop; ``execute`` (runner.execute) runs in a worker thread, so the
receiver keeps answering while playbooks run. A job state the journal cannot take (a full disk) is held
in memory and written as soon as it can (``catch_up``: before each submit, and every few seconds in the
receiver), so a full disk neither loses a job's end nor leaves its alert deduplicated against a job that
is over.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from incident_remediation import stability
from incident_remediation.config import Config
from incident_remediation.journal import Journal
from incident_remediation.metrics import Metrics
from incident_remediation.routing import Decision, decide, extra_vars, incident_id
from incident_remediation.runner import Inventory, job_dir, outcomes, redacted, stop_orphans
from incident_remediation.webhook import Alert

log = logging.getLogger("incident_remediation")
CATCH_UP_SECONDS = 10  # how often the receiver tries again to write the job states it holds
RETENTION_SECONDS = 3600  # how often the receiver purges what is older than retention_days
CLOCK_SKEW = 300  # seconds an alert's startsAt may lie ahead of this clock and still name its episode
VERDICTS = ("accepted", "deduped", "cooldown", "refused", "cancelled", "resolved", "stale", "regressed")
DID_NOT_ACT = ("diagnosed", "checked", "refused")  # incident outcomes of a run that changed nothing on its host
Execute = Callable[[Config, dict], tuple[str, int, str]]


class QueueFull(Exception):
    """max_queued jobs wait already: a request that would queue more is refused whole (503)."""


@dataclass
class Verdict:
    """What happened to one alert, as the receiver answers it."""

    fingerprint: str
    alertname: str
    verdict: str  # one of VERDICTS
    reason: str = ""
    job_id: str = ""
    route: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:  # the description and the metrics name exactly these
            raise ValueError(f"unknown verdict {self.verdict!r}: add it to dispatcher.VERDICTS and openapi.yaml")

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v != ""}


class Dispatcher:
    def __init__(self, config: Config, journal: Journal, execute: Execute, metrics: Metrics | None = None) -> None:
        self.config, self.journal, self.execute = config, journal, execute
        if hasattr(execute, "use_journal"):  # AWX: it journals the id of the AWX job as soon as AWX names it
            execute.use_journal(journal)
        self.metrics = metrics or Metrics()
        self.slots = asyncio.Semaphore(config.max_jobs)
        self.route_slots = {route.name: asyncio.Semaphore(route.concurrency) for route in config.routes}
        self.routes = {route.name: route for route in config.routes}
        self.inventory = Inventory(config)  # an alert for a host it does not have is refused at intake
        self.target_locks: dict[str, asyncio.Lock] = {}
        self.tasks: set[asyncio.Task] = set()
        self.unrecorded: dict[str, dict] = {}  # job id -> the end the journal could not take
        self.unstarted: dict[str, dict] = {}  # job id -> a queued job the journal could not mark running
        self.retrying: set[str] = set()  # unstarted jobs scheduled again, not yet tried
        self.stopping = False  # set by stop(): no job starts any more
        self.users: dict[str, int] = {}  # target -> its scheduled jobs not ended: its lock is kept while any
        self.paging: set[asyncio.Task] = set()  # regressions being told to the incident channel

    # --- decisions (synchronous: committed before the answer) ---------------------------------------
    def explain(self, alert: Alert) -> tuple[Decision, Verdict]:
        """The decision and the verdict for ``alert``, without writing anything (remediate route)."""
        decision = decide(alert, self.config.routes)
        route = decision.route.name if decision.route else ""

        def verdict(kind: str, reason: str = "", job_id: str = "") -> tuple[Decision, Verdict]:
            return decision, Verdict(alert.fingerprint, alert.name, kind, reason, job_id, route)

        starts = episode_start(alert.starts_at)  # the episode: fingerprint and startsAt (None: taken as before)
        ahead = "" if starts is not None or instant(alert.starts_at) is None else (
            f"its startsAt {utc(instant(alert.starts_at))} lies in the future (more than {CLOCK_SKEW} s ahead of this "
            "clock): taken as an alert without one")  # fmt: skip
        if alert.status == "resolved":
            active = self.journal.active_job(alert.fingerprint)
            if active and active["state"] == "queued":
                if None not in (starts, active["starts"]) and starts < active["starts"]:  # a lagging replica's
                    return verdict("stale", f"resolves the episode that started {utc(starts)}; job {active['id']} "
                                            f"is queued for a newer one (started {utc(active['starts'])}) and "
                                            "stays queued", active["id"])  # fmt: skip
                return verdict("cancelled", "resolved before its job started", active["id"])
            return verdict("resolved", f"job {active['id']} is already running" if active else "nothing to do")
        if not decision.runs:
            return verdict("refused", decision.refused)
        missing = self.inventory.missing(decision.target)
        if missing:
            return verdict("refused", missing)
        window = self.config.stale_window
        over = self.journal.episode_over(alert.fingerprint, starts, window) if starts is not None else None
        if over:  # sent late (a lagging replica): remediating it would act on an alert already over
            why = (f"it was resolved (received {utc(over['received'])}, less than stale_window {window:g} s ago)"
                   if over["starts"] == starts else f"a newer episode started {utc(over['starts'])}")  # fmt: skip
            return verdict("stale", f"the episode that started {utc(starts)} is over: {why}; nothing runs")
        regression = self._regression(alert, starts)
        if regression:
            return verdict("regressed", *regression)
        active = self.journal.active_job(alert.fingerprint)
        if active:
            return verdict("deduped", f"job {active['id']} is {active['state']} for this alert", active["id"])
        waited = self._cooldown_left(decision.route.name, decision.target)
        if waited > 0:
            return verdict("cooldown", f"{route} ran on {decision.target} {decision.route.cooldown - waited:.0f} s "
                                       f"ago (cooldown {decision.route.cooldown:g} s)")  # fmt: skip
        return verdict("accepted", ahead)

    def _regression(self, alert: Alert, starts: float | None) -> tuple[str, str] | None:
        """(reason, job id) when this firing is a regression of a mitigated incident in its stability window: the
        mitigation did not hold, so people are paged at once and the ladder does not run again; or when it is the
        same regressing episode sent again (paged once, nothing runs). None otherwise."""
        watched = self.journal.watching(alert.fingerprint)
        if watched:
            return stability.regression_reason(watched, alert, starts), watched["job_id"]
        paged = self.journal.regressed_episode(alert.fingerprint, starts)
        if paged:
            return (f"this episode already regressed incident {paged['incident_id']} on {paged['host']} (paged); "
                    "nothing runs"), paged["job_id"]  # fmt: skip
        return None

    def _cooldown_left(self, route: str, target: str) -> float:
        last = self.journal.last_finished(route, target)
        if last is None:
            return 0.0
        return max(0.0, self.routes[route].cooldown - (time.time() - last))

    def submit(self, alerts: list[Alert]) -> list[Verdict]:
        """Decide, journal and start the alerts of one request. Their rows (each alert, its job, the job it
        cancels) are one transaction, committed (one fsync) before the answer; an alert sees the rows of the
        ones before it. When the journal cannot take them (sqlite3.Error: a full disk) or they would queue
        more than max_queued jobs (QueueFull), none is recorded or started, and the error is raised."""
        verdicts, regressed = [], []
        self.catch_up()
        with self.journal.transaction():
            for alert in alerts:
                decision, verdict = self.explain(alert)
                if verdict.verdict == "accepted":
                    incident = incident_id(alert)
                    verdict.job_id = self.journal.create_job(
                        source="alert", target=decision.target, playbook=decision.route.playbook,
                        route=verdict.route, extravars=extra_vars(decision, incident), fingerprint=alert.fingerprint,
                        incident_id=incident, starts=episode_start(alert.starts_at),
                    )  # fmt: skip
                elif verdict.verdict == "deduped":  # a newer episode's firing: the job is its (a late resolved of
                    self.journal.follow_episode(verdict.job_id, episode_start(alert.starts_at))  # the older is stale)
                elif verdict.verdict == "cancelled":
                    self.journal.set_state(verdict.job_id, "cancelled", reason=verdict.reason)
                elif verdict.verdict == "regressed":
                    watched = self.journal.watching(alert.fingerprint)
                    if watched and self.journal.regress(watched["id"], verdict.reason, episode_start(alert.starts_at)):
                        regressed.append((watched, verdict.reason))
                self.journal.record_alert(alert, verdict.verdict, verdict.reason, verdict.route, verdict.job_id,
                                          starts=episode_start(alert.starts_at),
                                          ends=instant(alert.ends_at))  # fmt: skip
                verdicts.append(verdict)
            added = sum(verdict.verdict == "accepted" for verdict in verdicts)
            waiting = self.journal.count("queued") if added else 0
            if waiting > self.config.max_queued:  # a request that queues nothing (resolved, deduped) is taken
                raise QueueFull(f"the queue is full: {waiting - added} jobs wait (max_queued "
                                f"{self.config.max_queued}); nothing of this request was recorded: send it again "
                                "later (Alertmanager does)")  # fmt: skip
        for watched, reason in regressed:  # committed: now the page (posting never holds the answer back)
            self.metrics.inc("remediate_confirmations_total", outcome="regressed")
            self._page(watched, reason)
        for verdict in verdicts:
            self.metrics.inc("remediate_alerts_total", verdict=verdict.verdict)
            if verdict.verdict == "accepted":
                self.schedule(self.journal.job(verdict.job_id))
        return verdicts

    def _page(self, watched: dict, reason: str) -> None:
        """A regression: the incident channel told at once (PagerDuty triggered), the timeline written, in a worker
        thread; without an event loop (a test's synchronous submit), here."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            stability.record(self.config, watched, "regressed", reason, [])
            return
        task = loop.create_task(asyncio.to_thread(stability.record, self.config, watched, "regressed", reason, []))
        self.paging.add(task)
        task.add_done_callback(self.paging.discard)

    def submit_operator(self, *, playbook: str, target: str, variables: dict, check: bool) -> str:
        """An operator's run (remediate run): journaled like an alert's, same locks and limits."""
        return self.journal.create_job(
            source="operator",
            target=target,
            playbook=playbook,
            extravars=variables,
            check_mode=check,
            incident_id=str(variables.get("incident_id", "")),
        )

    # --- execution (asynchronous) --------------------------------------------------------------------
    def schedule(self, job: dict, resume: bool = False) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self.run(job, resume))
        self.tasks.add(task)
        self.users[job["target"]] = self.users.get(job["target"], 0) + 1
        task.add_done_callback(lambda done: self._ended(job, done))
        return task

    def _ended(self, job: dict, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        left = self.users.pop(job["target"], 1) - 1
        if left:
            self.users[job["target"]] = left
        else:  # no job of this host is scheduled: its lock goes, so the table holds only hosts with work
            self.target_locks.pop(job["target"], None)
        if not task.cancelled() and task.exception() is not None:  # not the journal's: run() holds those
            log.error("job %s (%s on %s) stopped: %s: %s; its journal row is as it was before, a restart of the "
                      "receiver recovers it", job["id"], job["playbook"], job["target"],
                      type(task.exception()).__name__, task.exception())  # fmt: skip

    async def run(self, job: dict, resume: bool = False) -> str:
        """Run one queued job under its target's lock, its route's and the global limit; its final state.
        ``resume``: a job already running elsewhere (AWX) when the receiver restarted, followed to its end."""
        lock = self.target_locks.setdefault(job["target"], asyncio.Lock())
        route_slots = self.route_slots.get(job["route"]) or asyncio.Semaphore(1)
        async with lock, route_slots, self.slots:
            self.retrying.discard(job["id"])
            try:
                begun = "running" if resume else self._begin(job)
                self.unstarted.pop(job["id"], None)
            except sqlite3.Error as exc:  # not run unless its start is recorded: a crash would run it twice
                self.unstarted[job["id"]] = job
                log.error("job %s (%s on %s) waits: the journal cannot record its start (%s); it starts once "
                          "the journal can", job["id"], job["playbook"], job["target"], exc)  # fmt: skip
                return "queued"
            if begun != "running":
                return begun
            started = time.monotonic()
            log.info("job %s: %s on %s", job["id"], job["playbook"], job["target"])
            try:
                execute = self.execute.resume if resume else self.execute
                state, rc, reason = await asyncio.to_thread(execute, self.config, job)
                # whatever the executor says (AWX's events, a timeout's running task): URL credentials hidden
                reason = redacted(self.config, reason) if reason else reason
            except Exception as exc:  # a broken runner (its artifacts on a full disk, ...) must not leave the
                # job running, nor its playbook acting on the host once the lock is released
                log.error("job %s could not run: %s: %s", job["id"], type(exc).__name__, exc,
                          exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
                state, rc, reason = "failed", -1, f"could not run the playbook: {type(exc).__name__}: {exc}"
                reason += await self._stop_playbook(job)
            if state == "timed_out":  # stopped by its runner; what it started may live on, and the host is half done
                stopped = await self._stop_playbook(job)
                reason += stopped or f"; it was stopped: the remediation may be partly done, check {job['target']}"
            ended = time.time()
            recorded = await asyncio.to_thread(outcomes, self.config, job["id"])
            self._end(job, {"state": state, "rc": rc, "reason": reason, "at": ended, "acted": acted(recorded)})
            if any(o.get("status") == "mitigated" for o in recorded):  # watched over its window (stability.py)
                await self._watch(job)
            self.metrics.observe_job(time.monotonic() - started)
            for outcome in recorded:
                status = str(outcome.get("status") or "unknown")
                self.metrics.inc("remediate_incidents_total", outcome=status, host=outcome["host"], route=job["route"])
            log.info("job %s: %s %s", job["id"], state, reason)
            return state

    async def _watch(self, job: dict) -> None:
        """Schedule the confirmation of each mitigated incident of the job at its window's end (in the journal: a
        receiver that restarts runs it; an operator's remediate run is confirmed by a receiver or by hand)."""
        try:
            await asyncio.to_thread(stability.schedule_job, self.config, self.journal, job)
        except (sqlite3.Error, OSError) as exc:
            log.error("job %s: its mitigated incidents could not be scheduled for their stability confirmation (%s):"
                      " confirm them by hand (remediate confirm INCIDENT)", job["id"], exc)  # fmt: skip

    async def keep_confirming(self) -> None:
        """The receiver's background task: the confirmations due (their window over, and a grace for Prometheus'
        last evaluations), one at a time in a worker thread, each claimed first (never two processes at once); and
        every WATCH_SECONDS, the windows still running watched for their alert's return (a regression pages at once,
        also when Alertmanager does not send the firing again: it re-sends a group whose resolution it never
        delivered only at its repeat_interval)."""
        watched_at = 0.0
        while True:
            await asyncio.sleep(stability.POLL_SECONDS)
            if self.stopping:
                continue
            try:
                if time.monotonic() - watched_at >= stability.WATCH_SECONDS:
                    watched_at = time.monotonic()
                    for row in self.journal.watched():
                        if await asyncio.to_thread(stability.watch, self.config, self.journal, row) == "regressed":
                            self.metrics.inc("remediate_confirmations_total", outcome="regressed")
                due = self.journal.due_confirmations(time.time() - stability.GRACE_SECONDS)
                for row in due:
                    state = await asyncio.to_thread(stability.run, self.config, self.journal, row)
                    if state in stability.ENDS:
                        self.metrics.inc("remediate_confirmations_total", outcome=state)
            except Exception:  # never end silently: the next round tries again
                log.exception("confirming the stability windows failed")

    async def _stop_playbook(self, job: dict, when: str = "") -> str:
        """Stop what is left of the job's playbook; what to add to its reason ('' when nothing was left)."""
        pids = await asyncio.to_thread(stop_orphans, self.config, job["id"])
        if not pids:
            return ""
        return (f"; its playbook was still running (pids {', '.join(map(str, pids))}) and was stopped{when}: "
                f"the remediation may be partly done, check {job['target']}")  # fmt: skip

    def _begin(self, job: dict) -> str:
        """Mark a queued job running, or say why it does not run: its state (queued: the receiver stops)."""
        current = self.journal.job(job["id"])
        if current is None or current["state"] != "queued":
            return current["state"] if current else "gone"
        if self.stopping:  # left queued for the next start (which runs it, or expires it if it waited too long)
            return "queued"
        if job["route"] in self.routes and self._cooldown_left(job["route"], job["target"]) > 0:
            self.journal.set_state(job["id"], "cancelled", reason="cooldown: the same route just ran on this host")
            return "cancelled"
        self.journal.set_state(job["id"], "running")
        return "running"

    def _end(self, job: dict, end: dict) -> None:
        try:
            self.journal.set_state(job["id"], **end)
        except sqlite3.Error as exc:
            self.unrecorded[job["id"]] = end
            log.error("job %s (%s on %s) ended %s, but the journal cannot record it (%s): held in memory and "
                      "written as soon as the journal can; until then the journal shows it running", job["id"],
                      job["playbook"], job["target"], end["state"], exc)  # fmt: skip

    def held(self) -> int:
        """Job states the journal could not take yet (ends, and starts of jobs waiting for it)."""
        return len(self.unrecorded) + len(self.unstarted)

    def catch_up(self, start_waiting: bool = True) -> int:
        """Write the held ends (each at the time it happened) and start the jobs that waited for the
        journal (unless ``start_waiting`` is false: the receiver is stopping), as far as the journal takes
        them; the number still held (a job scheduled again counts until its start is recorded)."""
        for job_id, end in list(self.unrecorded.items()):
            try:
                self.journal.set_state(job_id, **end)
            except sqlite3.Error:
                return self.held()
            del self.unrecorded[job_id]
            log.info("job %s: its end (%s) is in the journal now", job_id, end["state"])
        for job_id, job in self.unstarted.items():
            # run() tries to record its start again, and keeps it held if it cannot
            if start_waiting and job_id not in self.retrying:
                self.retrying.add(job_id)
                self.schedule(job)
        return self.held()

    async def keep_up(self) -> None:
        """The receiver's background task: catch up with the journal while states are held; keep the inventory's
        listing fresh, in a worker thread (an alert seldom waits for ansible-inventory, seconds on the loop)."""
        while True:
            try:
                await asyncio.to_thread(self.inventory.keep_fresh)
            except Exception:  # never end silently: the next round tries again
                log.exception("listing the inventory failed")
            await asyncio.sleep(CATCH_UP_SECONDS)
            try:
                self.catch_up()
            except Exception:  # never end silently: the next round tries again
                log.exception("catching up with the journal failed")

    async def recover(self) -> list[dict]:
        """At start: jobs a crash left running are marked interrupted (and returned), what is left of their
        playbooks is stopped first, and the outcomes they recorded are said; then queued ones run. Only the
        jobs of processes that are gone (journal.recover): an operator's live `remediate run` is its own."""
        interrupted, queued = self.journal.recover()
        for row in self.journal.recover_confirmations():  # their process is gone mid-confirmation: again (a read)
            log.warning("incident %s on %s: its stability confirmation was under way when its process stopped: "
                        "scheduled again", row["incident_id"], row["host"])  # fmt: skip
        if hasattr(self.execute, "resume"):  # AWX runs them on: each is followed to its end, not interrupted
            for job in interrupted:
                self.journal.set_state(job["id"], "running", at=job["started"])
                self.schedule(job, resume=True)  # before the queued jobs: it holds its host's lock first
            interrupted = []
        for job in interrupted:
            ended = "its remediate run" if job["source"] == "operator" else "the receiver"
            reason = f"{ended} stopped while the job ran" + await self._stop_playbook(job, " at recovery")
            recorded = await asyncio.to_thread(outcomes, self.config, job["id"])
            if recorded:
                reason += "; outcome recorded before: " + ", ".join(str(o.get("status")) for o in recorded)
            self.journal.set_state(job["id"], "interrupted", reason=reason, acted=acted(recorded))
            log.warning("interrupted job %s (%s on %s): %s", job["id"], job["playbook"], job["target"], reason)
        for job in queued:
            waited = time.time() - job["created"]
            if job["source"] == "operator":  # its remediate run has ended: never run it without its operator
                reason = "an operator's run whose remediate process ended before it started; not run without them"
                self.journal.set_state(job["id"], "interrupted", reason=reason)
                log.warning("job %s (%s on %s): %s", job["id"], job["playbook"], job["target"], reason)
            elif waited > self.config.queued_max_age:  # its alert may be long over: Alertmanager re-sends if not
                reason = (f"queued {waited:.0f} s ago and not started by a receiver since: older than queued_max_age "
                          f"({self.config.queued_max_age:g} s), not run; Alertmanager sends the alert again at its "
                          "repeat_interval while it fires")  # fmt: skip
                self.journal.set_state(job["id"], "expired", reason=reason)
                log.warning("job %s (%s on %s): %s", job["id"], job["playbook"], job["target"], reason)
            else:
                self.schedule(job)
        return interrupted

    async def drain(self) -> None:
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def retain(self) -> tuple[int, int]:
        """Purge what is older than retention_days: the journal's finished jobs and alerts, and the
        jobs/<id>/ folders of jobs it no longer holds (links and files there are left alone); (jobs, folders)."""
        purged = self.journal.purge(self.config.retention_days)
        cutoff, removed = time.time() - self.config.retention_days * 86400, 0
        try:
            entries = list(os.scandir(job_dir(self.config, "-").parent))
        except FileNotFoundError:
            return purged, 0
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
            if self.journal.job(entry.name) is None:  # its row is written before its folder, by any process
                try:
                    shutil.rmtree(entry.path)
                    removed += 1
                except OSError as exc:
                    log.warning("retention: cannot remove %s: %s", entry.path, exc)
        return purged, removed

    async def keep_clean(self) -> None:
        """The receiver's background task: retention every RETENTION_SECONDS, not only at start."""
        while True:
            await asyncio.sleep(RETENTION_SECONDS)
            try:
                jobs, folders = await asyncio.to_thread(self.retain)
            except Exception:  # never end silently: the next round tries again
                log.exception("retention failed")
                continue
            if jobs or folders:
                log.info("retention: %d jobs and %d job folders older than %g days purged", jobs, folders,
                         self.config.retention_days)  # fmt: skip

    async def stop(self) -> None:
        """The receiver stops (SIGTERM): the running jobs end, the queued ones stay queued (none starts)."""
        self.stopping = True
        await self.drain()


def acted(recorded: list[dict]) -> bool:
    """Whether a job may have changed its host, from the incident outcomes it recorded (runner.outcomes): only
    a job whose every incident says it did not act (diagnosed, checked, refused before any step) did not.
    A job with no outcome (killed before its close phase, a playbook without the incident role) may have."""
    return not recorded or any(
        o.get("status") not in DID_NOT_ACT or (o.get("status") == "refused" and o.get("actions")) for o in recorded
    )


def instant(text: str) -> float | None:
    """An alert's startsAt or endsAt (RFC 3339, as Alertmanager writes it) in seconds; None when there is none
    (empty, Go's zero time that a firing alert's endsAt is, or not a time)."""
    try:
        moment = datetime.fromisoformat(text)
        seconds = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        return None
    return seconds if seconds > 0 else None


def episode_start(text: str) -> float | None:
    """An alert's startsAt as its episode's start (instant), None also when it lies more than CLOCK_SKEW seconds
    ahead of this clock (a skewed Prometheus, a forged alert): such a start would make every later firing of
    its fingerprint look older than it (stale) until retention."""
    starts = instant(text)
    return None if starts is None or starts > time.time() + CLOCK_SKEW else starts


def utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def job_summary(job: dict) -> dict:
    """A journal row as the receiver and the CLI show it."""
    shown = {k: job[k] for k in ("id", "state", "source", "route", "target", "playbook", "incident_id", "rc", "reason")}
    for key in ("created", "started", "finished"):
        shown[key] = utc(job[key]) if job.get(key) else None
    shown["check_mode"] = bool(job["check_mode"])
    shown["variables"] = json.loads(job["extravars"])
    return shown
