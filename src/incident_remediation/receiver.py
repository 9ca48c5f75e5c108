"""The Alertmanager webhook receiver (aiohttp): answers 202 at once, jobs run in the background.

POST /alerts           Alertmanager's webhook (version 4), bearer token; 202 with a verdict and job id per alert
GET  /jobs, /jobs/ID   job status (bearer token)
GET  /jobs/ID/report   the job's post-incident report, Markdown (bearer token)
GET  /healthz          liveness, and the journal's job counts
GET  /metrics          Prometheus text format
GET  /openapi.json     this API described in OpenAPI 3.1 (openapi.yaml beside this file)

aiohttp, because one asyncio process answers webhooks while worker threads run playbooks, with a body
size limit and no other moving part (no separate ASGI server), and a small footprint.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from functools import cache
from importlib import resources

import yaml
from aiohttp import web

from incident_remediation.dispatcher import Dispatcher, QueueFull, job_summary
from incident_remediation.errors import PayloadError
from incident_remediation.journal import STATES
from incident_remediation.metrics import INVALID, QUEUE_FULL, TOO_LARGE, UNAUTHORIZED, UNRECORDED
from incident_remediation.report import job_report
from incident_remediation.webhook import authorized, parse_payload

log = logging.getLogger("incident_remediation")
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
TOKEN = web.AppKey("token", bytes)
OPEN = ("/healthz", "/metrics", "/openapi.json")  # no token: liveness, scraping, the API's description
DIGITS = re.compile(r"[0-9]+\Z")  # ASCII only: int() would take "٣" and "1_0"
MAX_JOBS_SHOWN = 1000  # GET /jobs?limit= above it gives this many


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def bearer_auth(request: web.Request, handler):
    if request.path in OPEN:
        return await handler(request)
    if not authorized(request.headers.get("Authorization", ""), request.app[TOKEN]):
        request.app[DISPATCHER].metrics.reject(UNAUTHORIZED)
        return _error(401, "a valid bearer token is required", **{"WWW-Authenticate": 'Bearer realm="remediate"'})
    return await handler(request)


async def receive_alerts(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        dispatcher.metrics.reject(TOO_LARGE)
        return _error(413, f"the body is larger than {dispatcher.config.max_body_bytes} bytes")
    try:
        alerts = parse_payload(body)
    except PayloadError as exc:
        dispatcher.metrics.reject(INVALID)
        return _error(exc.status, str(exc))
    try:
        verdicts = dispatcher.submit(alerts)
    except sqlite3.Error as exc:  # a full disk, most likely: say so, and let Alertmanager send them again
        log.error("the journal %s cannot record alerts: %s", dispatcher.journal.path, exc)
        dispatcher.metrics.reject(UNRECORDED)
        return _error(503, f"the journal cannot record alerts ({exc}): alerts not recorded start nothing; "
                           "send them again (Alertmanager does)", **{"Retry-After": "30"})  # fmt: skip
    except QueueFull as exc:  # 503, not 4xx: Alertmanager sends a 5xx again, and drops a 4xx
        log.warning("refused a request of %d alerts: %s", len(alerts), exc)
        dispatcher.metrics.reject(QUEUE_FULL)
        return _error(503, str(exc), **{"Retry-After": "30"})
    return web.json_response({"alerts": [v.as_dict() for v in verdicts]}, status=202)


async def list_jobs(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - {"limit", "state"})
    if unknown:
        return _error(400, f"unknown query parameter {unknown[0]!r}: /jobs takes limit and state")
    given = request.query.get("limit", "50")
    digits = given.lstrip("0")
    if not DIGITS.match(given) or not digits:
        return _error(400, f"limit must be a whole number from 1 (at most {MAX_JOBS_SHOWN} are shown), got {given!r}")
    state = request.query.get("state")
    if state is not None and state not in STATES:
        return _error(400, f"state must be one of {', '.join(STATES)}, got {state!r}")
    jobs = request.app[DISPATCHER].journal.jobs(limit=min(int(digits[:5]), MAX_JOBS_SHOWN), state=state or "")
    return web.json_response({"jobs": [job_summary(job) for job in jobs]})


async def show_job(request: web.Request) -> web.Response:
    job = request.app[DISPATCHER].journal.job(request.match_info["job_id"])
    if job is None:
        return _error(404, f"no job {request.match_info['job_id']}")
    return web.json_response(job_summary(job))


async def show_report(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    job = dispatcher.journal.job(request.match_info["job_id"])
    if job is None:
        return _error(404, f"no job {request.match_info['job_id']}")
    try:
        text = job_report(dispatcher.config, job)
    except FileNotFoundError as exc:
        return _error(404, str(exc))
    return web.Response(text=text, content_type="text/markdown")


async def healthz(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    held = dispatcher.held()  # "behind": job states wait in memory for the journal (a full disk)
    return web.json_response({"status": "behind" if held else "ok", "jobs": dispatcher.journal.count_by_state(),
                              "unrecorded_job_states": held})  # fmt: skip


async def metrics(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    text = dispatcher.metrics.render(dispatcher.journal.count_by_state(), dispatcher.held())
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Format": "0.0.4"})


@cache
def description() -> dict:
    """The OpenAPI description, read once from the package."""
    return yaml.safe_load(resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8"))


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(description())


ROUTES = (
    ("POST", "/alerts", receive_alerts),
    ("GET", "/jobs", list_jobs),
    ("GET", "/jobs/{job_id}", show_job),
    ("GET", "/jobs/{job_id}/report", show_report),
    ("GET", "/healthz", healthz),
    ("GET", "/metrics", metrics),
    ("GET", "/openapi.json", openapi),
)


def make_app(dispatcher: Dispatcher, token: str) -> web.Application:
    app = web.Application(middlewares=[bearer_auth], client_max_size=dispatcher.config.max_body_bytes)
    app[DISPATCHER] = dispatcher
    app[TOKEN] = token.encode("utf-8")
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)

    async def start(_app: web.Application) -> None:
        purged, folders = dispatcher.retain()  # and every hour after (keep_clean)
        interrupted = await dispatcher.recover()  # logs each, with what was left of it
        log.info("journal %s: %d interrupted, %d purged (%d job folders)", dispatcher.journal.path, len(interrupted),
                 purged, folders)  # fmt: skip
        # the first listing before the first alert (off the loop): alerts are decided on it, never list themselves
        await asyncio.to_thread(dispatcher.inventory.keep_fresh)
        loop = asyncio.get_running_loop()
        catching_up.extend([loop.create_task(dispatcher.keep_up()), loop.create_task(dispatcher.keep_clean()),
                            loop.create_task(dispatcher.keep_confirming())])  # fmt: skip

    async def stop(_app: web.Application) -> None:
        for task in catching_up:
            task.cancel()
        await dispatcher.stop()  # the running jobs end; none of the queued ones starts
        if dispatcher.catch_up(start_waiting=False):
            log.error("stopping with %d job state(s) the journal could not take; the next start marks the jobs "
                      "it shows running interrupted and runs the queued ones", dispatcher.held())  # fmt: skip

    catching_up: list[asyncio.Task] = []

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app
