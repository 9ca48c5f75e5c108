"""Event source for ansible-rulebook: Alertmanager's webhook with a bearer token, one event per alert.

DOCUMENTATION
    host: address to listen on (default 127.0.0.1)
    port: port to listen on (default 5000)
    token: the bearer token Alertmanager sends (http_config.authorization); or token_env, the name of
        an environment variable holding it. Required: a receiver that runs playbooks is never open.
    spool_dir: where each alert is written, as extra variables whose strings are all marked unsafe,
        for the playbook to load (default: a private temporary folder)
    max_body_bytes: larger bodies are refused with 413 (default 1 MiB)

Each event: {"alert": {status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint},
"alert_file": "<spool_dir>/<fingerprint>-<n>.json", "target": host, "meta": {"receiver": ..., "groupKey": ...}}.
target is the host from the instance (or host) label, port stripped, and only when it is a plain host
name (never a pattern such as "all" or "web*"); empty otherwise.
Conditions match on event.alert; the playbook gets only alert_file (a path this source made), because
ansible-rulebook writes run_playbook's extra_vars as plain YAML, where a label such as
"{{ lookup('pipe', 'id') }}" would be a template. incident.remediation.remediate loads alert_file.

The payload is validated by the incident_remediation package (pip install incident-remediation in the
decision environment): the same rules, and the same errors, as `remediate serve`.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import os
import tempfile
from pathlib import Path

from aiohttp import web

from incident_remediation.errors import PayloadError
from incident_remediation.extravars import write_unsafe
from incident_remediation.routing import Route, plain_host, target_host
from incident_remediation.webhook import parse_webhook

log = logging.getLogger(__name__)
TARGETS = Route(name="eda", alertname="*", playbook="")  # instance, then host; the receiver's default


def _token(args: dict) -> str:
    token = str(args.get("token") or os.environ.get(str(args.get("token_env", "")), "") or "")
    if len(token) < 16:
        raise ValueError("alertmanager source: a bearer token of at least 16 characters is required (token, token_env)")
    return token


async def main(queue: asyncio.Queue, args: dict) -> None:
    token = _token(args).encode()
    spool = Path(args.get("spool_dir") or tempfile.mkdtemp(prefix="alertmanager-source-"))
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    counter = itertools.count(1)

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, b"Bearer " + token):
            return web.json_response({"error": "a valid bearer token is required"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="eda"'})  # fmt: skip
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "the body is too large"}, status=413)
        try:
            alerts, meta = parse_webhook(body)
        except PayloadError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        for alert in alerts:
            webhook = alert.as_webhook()
            kept = {"alert": webhook, "alert_labels": dict(alert.labels)}  # alert_labels: what the silence matches
            path = write_unsafe(spool / f"{alert.fingerprint}-{next(counter)}.json", kept)
            host = target_host(TARGETS, alert)
            target = host if plain_host(host) else ""
            await queue.put({"alert": webhook, "alert_file": str(path), "target": target, "meta": meta})
        return web.json_response({"events": len(alerts)}, status=202)

    app = web.Application(client_max_size=int(args.get("max_body_bytes", 1024 * 1024)))
    app.router.add_post("/", receive)
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, str(args.get("host", "127.0.0.1")), int(args.get("port", 5000)))
    await site.start()
    log.info("alertmanager source listening on %s:%s", args.get("host", "127.0.0.1"), args.get("port", 5000))
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    # A quick look without ansible-rulebook: print the events.
    class _Printer:
        async def put(self, event: dict) -> None:
            print(event, flush=True)

    asyncio.run(main(_Printer(), {"token_env": "REMEDIATE_TOKEN", "port": 5000}))
