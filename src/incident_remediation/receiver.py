"""The Alertmanager webhook receiver (aiohttp): answers 202 at once, jobs run in the background.

POST /alerts           Alertmanager's webhook (version 4), bearer token; 202 with a verdict and job id per alert
GET  /jobs, /jobs/ID   job status (bearer token)
GET  /jobs/ID/report   the job's post-incident report, Markdown (bearer token)
GET  /healthz          liveness, and the journal's job counts
GET  /metrics          Prometheus text format

aiohttp, because one asyncio process answers webhooks while worker threads run playbooks, with a body
size limit and no other moving part (no separate ASGI server), and a small footprint.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from incident_remediation.dispatcher import Dispatcher, job_summary
from incident_remediation.errors import PayloadError
from incident_remediation.report import job_report
from incident_remediation.webhook import parse_payload

log = logging.getLogger("incident_remediation")
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
TOKEN = web.AppKey("token", bytes)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def bearer_auth(request: web.Request, handler):
    if request.path in ("/healthz", "/metrics"):
        return await handler(request)
    given = request.headers.get("Authorization", "")
    expected = b"Bearer " + request.app[TOKEN]
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
        request.app[DISPATCHER].metrics.inc("remediate_requests_rejected_total", reason="unauthorized")
        return _error(401, "a valid bearer token is required", **{"WWW-Authenticate": 'Bearer realm="remediate"'})
    return await handler(request)


async def receive_alerts(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        dispatcher.metrics.inc("remediate_requests_rejected_total", reason="too_large")
        return _error(413, f"the body is larger than {dispatcher.config.max_body_bytes} bytes")
    try:
        alerts = parse_payload(body)
    except PayloadError as exc:
        dispatcher.metrics.inc("remediate_requests_rejected_total", reason="invalid")
        return _error(exc.status, str(exc))
    verdicts = dispatcher.submit(alerts)
    return web.json_response({"alerts": [v.as_dict() for v in verdicts]}, status=202)


async def list_jobs(request: web.Request) -> web.Response:
    try:
        limit = min(int(request.query.get("limit", "50")), 1000)
    except ValueError:
        return _error(400, "limit must be a number")
    jobs = request.app[DISPATCHER].journal.jobs(limit=limit, state=request.query.get("state", ""))
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
    return web.json_response({"status": "ok", "jobs": request.app[DISPATCHER].journal.count_by_state()})


async def metrics(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    text = dispatcher.metrics.render(dispatcher.journal.count_by_state())
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Format": "0.0.4"})


def make_app(dispatcher: Dispatcher, token: str) -> web.Application:
    app = web.Application(middlewares=[bearer_auth], client_max_size=dispatcher.config.max_body_bytes)
    app[DISPATCHER] = dispatcher
    app[TOKEN] = token.encode("utf-8")
    app.router.add_post("/alerts", receive_alerts)
    app.router.add_get("/jobs", list_jobs)
    app.router.add_get("/jobs/{job_id}", show_job)
    app.router.add_get("/jobs/{job_id}/report", show_report)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)

    async def start(_app: web.Application) -> None:
        purged = dispatcher.journal.purge(dispatcher.config.retention_days)
        interrupted = await dispatcher.recover()  # logs each, with what was left of it
        log.info("journal %s: %d interrupted, %d purged", dispatcher.journal.path, len(interrupted), purged)

    async def stop(_app: web.Application) -> None:
        await dispatcher.drain()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app
