"""remediate: alerts in, remediation playbooks out.

    remediate serve                         the Alertmanager webhook receiver
    remediate run MITIGATION --limit HOST   an operator's run, through the same journal and runner
    remediate route ALERT.json              which route an alert takes, and why (changes nothing)
    remediate jobs                          the journal's jobs
    remediate report JOB                    a job's post-incident report (Markdown)
    remediate confirm INCIDENT              confirm a mitigated incident's stability window (by hand)

The configuration file is --config, else $REMEDIATE_CONFIG, else /etc/incident-remediation/remediate.yml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path

from incident_remediation import config as config_module
from incident_remediation.dispatcher import Dispatcher, job_summary, utc
from incident_remediation.errors import PayloadError, RemediateError
from incident_remediation.journal import STATES, Journal
from incident_remediation.printable import json_text, say, setup_logging
from incident_remediation.report import job_report
from incident_remediation.routing import extra_vars, incident_id
from incident_remediation.runner import execute, job_dir
from incident_remediation.stability import by_hand
from incident_remediation.webhook import parse_alert, parse_payload

MITIGATIONS = ("restart", "rollback", "cache_purge", "memory_limit", "proxy_config", "config_change", "protect_data")
DEFAULT_CONFIG = "/etc/incident-remediation/remediate.yml"


def _journal(config) -> Journal:
    return Journal(config.data_dir / "journal.sqlite")


def _extra(values: list[str]) -> dict:
    """-e KEY=VALUE (VALUE parsed as JSON when it is JSON), -e '{"json": ...}' or -e @FILE.json."""
    merged: dict = {}
    for value in values:
        if value.startswith("@"):
            merged.update(json.loads(Path(value[1:]).read_text(encoding="utf-8")))
        elif value.lstrip().startswith("{"):
            merged.update(json.loads(value))
        elif "=" in value:
            key, _, raw = value.partition("=")
            try:
                merged[key] = json.loads(raw)
            except ValueError:
                merged[key] = raw
        else:
            raise RemediateError(f"-e {value!r}: give KEY=VALUE, a JSON object or @FILE.json")
    return merged


def executor(config):
    """The local ansible-runner, or AWX job templates when the configuration has an awx section."""
    settings = config.awx_settings()
    if not settings:
        return execute
    from incident_remediation.awx import AwxLauncher  # noqa: PLC0415  (requests, only with an awx section)

    return AwxLauncher(settings)


def cmd_serve(args, config) -> int:
    from aiohttp import web  # noqa: PLC0415 (only serve needs the web stack)

    from incident_remediation.receiver import make_app  # noqa: PLC0415

    token = config.token()
    os.environ.pop("REMEDIATE_TOKEN", None)  # never handed to the playbooks or written in their artifacts
    journal = _journal(config)

    async def build():
        return make_app(Dispatcher(config, journal, executor(config)), token)

    say(f"remediate: listening on http://{config.listen_host}:{config.listen_port} "
        f"({len(config.routes)} routes, journal {journal.path})")  # fmt: skip
    web.run_app(build(), host=config.listen_host, port=config.listen_port, print=None, access_log=None,
                handle_signals=True)  # fmt: skip
    return 0


def cmd_run(args, config) -> int:
    variables = _extra(args.extra)
    if args.service:
        variables["service"] = args.service
    if args.incident_id:
        variables["incident_id"] = args.incident_id
    playbook = f"incident.remediation.{args.mitigation}"

    async def go() -> tuple[str, dict, bool]:
        dispatcher = Dispatcher(config, _journal(config), executor(config))
        job_id = dispatcher.submit_operator(playbook=playbook, target=args.limit, variables=variables, check=args.check)
        say(f"job {job_id}: {playbook} on {args.limit}{' (check mode)' if args.check else ''}, "
            f"artifacts in {job_dir(config, job_id)}")  # fmt: skip
        state = await dispatcher.run(dispatcher.journal.job(job_id))
        job = {**dispatcher.journal.job(job_id), **dispatcher.unrecorded.get(job_id, {})}  # as it ended
        for row in dispatcher.journal.confirmations():  # mitigated: a receiver on this journal, or the operator
            if row["job_id"] == job_id:
                say(f"incident {row['incident_id']} on {row['host']}: mitigated; its stability window ends at "
                    f"{utc(row['due'])}: a receiver on this journal confirms it, or remediate confirm "
                    f"{row['incident_id']} --wait")  # fmt: skip
        return state, job, bool(dispatcher.held())

    state, job, unrecorded = asyncio.run(go())
    stdout = job_dir(config, job["id"]) / "artifacts" / "run" / "stdout"
    if stdout.exists():
        text = stdout.read_text(encoding="utf-8", errors="replace")
        say(text[text.rfind("INCIDENT ") :] if "INCIDENT " in text else text[-3000:], block=True)
    say(f"job {job['id']}: {state}" + (f" - {job['reason']}" if job["reason"] else ""))
    if unrecorded:  # a full disk under data_dir: the run's start or end is not in the journal
        what = "start, so it did not run" if state == "queued" else f"end ({state}): it shows it running"
        say(f"remediate: the journal in {config.data_dir} could not record job {job['id']}'s {what}; "
            "a receiver starting on this journal marks it interrupted", file=sys.stderr)  # fmt: skip
        return 2
    return 0 if state == "succeeded" else 1


def _alerts_from(path: str) -> list:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "alerts" in data:
        return parse_payload(json.dumps(data))
    return [parse_alert(data)]


def cmd_route(args, config) -> int:
    journal = _journal(config) if (config.data_dir / "journal.sqlite").exists() else Journal(":memory:")
    dispatcher = Dispatcher(config, journal, execute)
    dispatcher.inventory.keep_fresh()  # explain() reads the listing, it never lists
    for alert in _alerts_from(args.alert):
        decision, verdict = dispatcher.explain(alert)
        say(f"alert {alert.name} ({alert.status}, fingerprint {alert.fingerprint})")
        for line in decision.trace or ["no routes configured"]:
            say(f"  {line}")
        say(f"  verdict: {verdict.verdict}" + (f" - {verdict.reason}" if verdict.reason else ""))
        if verdict.verdict == "accepted":
            say(f"  would run: {decision.route.playbook} --limit {decision.target}")
            say("  with variables (every string passed as data, never templated):")
            say("    " + json_text(extra_vars(decision, incident_id(alert)), indent=2).replace("\n", "\n    "),
                block=True)  # fmt: skip
            running = {job["target"] for job in journal.jobs(limit=1000, state="running")}
            lock = "busy" if decision.target in running else "free"
            say(f"  target lock on {decision.target}: {lock}")
    return 0


def cmd_jobs(args, config) -> int:
    jobs = [job_summary(job) for job in _journal(config).jobs(limit=args.limit, state=args.state)]
    if args.json:
        say(json_text(jobs, indent=2), block=True)
        return 0
    for job in jobs:
        say(f"{job['id']}  {job['state']:<11} {job['source']:<8} {job['target']:<24} {job['playbook']}"
            + (f"  {job['reason'][:80]}" if job["reason"] else ""))  # fmt: skip
    if not jobs:
        say("no jobs")
    return 0


def cmd_report(args, config) -> int:
    job = _journal(config).job(args.job)
    if job is None:
        raise RemediateError(f"no job {args.job} in {config.data_dir / 'journal.sqlite'}")
    say(job_report(config, job), block=True)
    return 0


def cmd_confirm(args, config) -> int:
    """0: every host resolved (stable); 1: one regressed; 3: a window not over yet (nothing checked)."""
    timeline_dir = Path(args.timeline_dir).expanduser() if args.timeline_dir else None
    said = by_hand(config, _journal(config), args.incident, timeline_dir, wait=args.wait)
    for host, state, reason in said:
        say(f"{host}: {state} - {reason}")
    states = {state for _, state, _ in said}
    return 1 if "regressed" in states else 3 if states - {"resolved"} else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="remediate", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    top.add_argument("--config", default=os.environ.get("REMEDIATE_CONFIG", DEFAULT_CONFIG),
                     help=f"configuration file (default $REMEDIATE_CONFIG or {DEFAULT_CONFIG})")  # fmt: skip
    top.add_argument("-v", "--verbose", action="store_true", help="log each job's start and end")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the Alertmanager webhook receiver (bearer token from token_file or "
                                 "$REMEDIATE_TOKEN)").set_defaults(func=cmd_serve)  # fmt: skip
    run = sub.add_parser("run", help="run one mitigation on one host, as an operator, through the journal")
    run.add_argument("mitigation", choices=MITIGATIONS)
    run.add_argument("--limit", required=True, help="the inventory host")
    run.add_argument("--service", help="the service's name in inventory (services.NAME)")
    run.add_argument("--incident-id", help="the incident id (default: generated)")
    run.add_argument("-e", "--extra", action="append", default=[], metavar="VARS",
                     help="KEY=VALUE, a JSON object or @FILE.json; e.g. -e escalate=true")  # fmt: skip
    run.add_argument("--check", action="store_true", help="check mode: report what would change, change nothing")
    run.set_defaults(func=cmd_run)
    route = sub.add_parser("route", help="show which route an alert takes and what would run (changes nothing)")
    route.add_argument("alert", help="a webhook payload or one alert, as JSON")
    route.set_defaults(func=cmd_route)
    jobs = sub.add_parser("jobs", help="list the journal's jobs, newest first")
    jobs.add_argument("--state", default="", choices=["", *STATES])
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=cmd_jobs)
    report = sub.add_parser("report", help="print a job's post-incident report (Markdown)")
    report.add_argument("job")
    report.set_defaults(func=cmd_report)
    confirm = sub.add_parser(
        "confirm",
        help="confirm a mitigated incident's stability window now (the "
        "receiver does it by itself at the window's end); twice changes nothing",
    )
    confirm.add_argument("incident", help="the incident id (INC-...)")
    confirm.add_argument("--timeline-dir", help="where an ansible-playbook run kept its incidents, for an incident "
                                                "the journal does not hold (default $INCIDENT_TIMELINE_DIR or "
                                                "~/.incident-remediation/incidents)")  # fmt: skip
    confirm.add_argument("--wait", action="store_true", help="wait for the window's end, then confirm")
    confirm.set_defaults(func=cmd_confirm)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(logging.INFO if args.verbose or args.command == "serve" else logging.WARNING)
    try:
        config = config_module.load(args.config)
        return args.func(args, config)
    except (RemediateError, PayloadError, FileNotFoundError, ValueError) as exc:
        say(f"remediate: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # a full disk under data_dir, most often
        say(f"remediate: the journal in {config.data_dir} cannot be used: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
