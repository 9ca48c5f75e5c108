"""Event source for ansible-rulebook: Alertmanager's webhook with a bearer token, one event per alert.

DOCUMENTATION
    host: address to listen on (default 127.0.0.1)
    port: port to listen on (default 5000)
    token: the bearer token Alertmanager sends (http_config.authorization); or token_env, the name of
        an environment variable holding it. Required: a receiver that runs playbooks is never open.
    spool_dir: where each alert is written, as extra variables whose strings are all marked unsafe,
        for the playbook to load (default, or empty: a private temporary folder, removed at exit)
    spool_max_age: seconds an alert file is kept (default 86400): older ones are removed at start and
        then every spool_max_age / 4 (at most every 10 minutes); only this source's files
        (<fingerprint>-<n>.json), never anything else in spool_dir
    max_body_bytes: larger bodies are refused with 413 (default 1 MiB)

Each event holds only what a rule needs, and nothing the sender wrote as free text: {"status": "firing" or
"resolved", "fingerprint": hex, "target": host, "alert_file": "<spool_dir>/<fingerprint>-<n>.json"}.
ansible-rulebook hands every playbook the event as ansible_eda.event in extra vars written as plain YAML, where
any string is a template again as soon as a task reads ansible_eda: a label, an annotation, the receiver or
the groupKey holding "{{ lookup('pipe', 'id') }}" would run. So none of them is in the event: status and
fingerprint are validated (an enumeration, hexadecimal), target is the host from the instance (or host)
label, port stripped, and only when it is a plain host name (never a pattern such as "all" or "web*";
empty otherwise), alert_file a path this source made. The alert itself (alert), its whole label set
(alert_labels) and the group's receiver and groupKey (alert_group) are in alert_file, every string marked
unsafe, which incident.remediation.remediate loads.

The payload is validated by the incident_remediation package (pip install incident-remediation in the
decision environment): the same rules, and the same errors, as `remediate serve` (JSON nested deeper than
64 levels is a 400, the bearer scheme is case-insensitive).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from aiohttp import web

from incident_remediation.errors import PayloadError
from incident_remediation.extravars import write_unsafe
from incident_remediation.routing import Route, plain_host, target_host
from incident_remediation.webhook import authorized, parse_webhook

log = logging.getLogger(__name__)
TARGETS = Route(name="eda", alertname="*", playbook="")  # instance, then host; the receiver's default
SPOOLED = re.compile(r"[0-9a-f]{1,64}-[0-9]+\.json\Z")  # the files this source writes, the only ones it removes
DAY = 86400.0


def _token(args: dict) -> str:
    token = str(args.get("token") or os.environ.get(str(args.get("token_env", "")), "") or "").strip()
    if len(token) < 16:
        raise ValueError("alertmanager source: a bearer token of at least 16 characters is required (token, token_env)")
    if any(c.isspace() or not c.isprintable() for c in token):  # as remediate serve: one word, or no header matches
        raise ValueError("alertmanager source: the bearer token (token, token_env) has a line break, a space or a "
                         "control character inside: it must be the token alone, on one line")  # fmt: skip
    return token


def _max_age(args: dict) -> float:
    try:
        seconds = float(args.get("spool_max_age") or DAY)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"alertmanager source: spool_max_age must be a number of seconds above 0, "
                         f"got {args.get('spool_max_age')!r}")  # fmt: skip
    return seconds


def clean_spool(spool: Path, max_age: float, now: float | None = None) -> int:
    """Remove this source's alert files older than ``max_age`` seconds from ``spool``; how many went."""
    limit = (time.time() if now is None else now) - max_age
    removed = 0
    with os.scandir(spool) as entries:
        for entry in entries:
            if not SPOOLED.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
    return removed


async def _keep_clean(spool: Path, max_age: float) -> None:
    while True:
        try:
            removed = clean_spool(spool, max_age)
            if removed:
                log.info("alertmanager source: removed %d alert file(s) older than %g s from %s", removed, max_age,
                         spool)  # fmt: skip
        except OSError as exc:  # the spool gone or unreadable: say so, try again later
            log.warning("alertmanager source: cannot clean %s: %s", spool, exc)
        await asyncio.sleep(min(max_age / 4, 600.0))


async def main(queue: asyncio.Queue, args: dict) -> None:
    token = _token(args).encode()
    max_age = _max_age(args)
    private = not args.get("spool_dir")
    spool = Path(tempfile.mkdtemp(prefix="alertmanager-source-") if private else args["spool_dir"])
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    counter = itertools.count(1)

    async def receive(request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization", ""), token):
            return web.json_response({"error": "a valid bearer token is required"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="eda"'})  # fmt: skip
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "the body is too large"}, status=413)
        try:
            alerts, group = parse_webhook(body)
        except PayloadError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        for alert in alerts:
            kept = {"alert": alert.as_webhook(), "alert_labels": dict(alert.labels), "alert_group": group}
            path = write_unsafe(spool / f"{alert.fingerprint}-{next(counter)}.json", kept)
            host = target_host(TARGETS, alert)
            target = host if plain_host(host) else ""
            await queue.put({"status": alert.status, "fingerprint": alert.fingerprint, "target": target,
                             "alert_file": str(path)})  # fmt: skip
        return web.json_response({"events": len(alerts)}, status=202)

    app = web.Application(client_max_size=int(args.get("max_body_bytes", 1024 * 1024)))
    app.router.add_post("/", receive)
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, str(args.get("host", "127.0.0.1")), int(args.get("port", 5000)))
    await site.start()
    cleaning = asyncio.get_running_loop().create_task(_keep_clean(spool, max_age))
    log.info("alertmanager source listening on %s:%s", args.get("host", "127.0.0.1"), args.get("port", 5000))
    try:
        await asyncio.Future()
    finally:
        cleaning.cancel()
        await runner.cleanup()
        if private:  # nobody else knows this folder: its files would only wait for a reboot
            shutil.rmtree(spool, ignore_errors=True)


if __name__ == "__main__":
    # A quick look without ansible-rulebook: print the events.
    class _Printer:
        async def put(self, event: dict) -> None:
            print(event, flush=True)

    asyncio.run(main(_Printer(), {"token_env": "REMEDIATE_TOKEN", "port": 5000}))
