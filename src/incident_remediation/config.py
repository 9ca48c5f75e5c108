"""The front end's configuration: one typed object from one YAML file, errors naming file, key and problem.

listen: 127.0.0.1:9095          # host:port of the webhook receiver
token_file: /etc/incident-remediation/token   # or REMEDIATE_TOKEN in the environment
inventory: /etc/ansible/inventory              # given to every run
ansible_config: /etc/ansible/ansible.cfg       # optional
data_dir: /var/lib/incident-remediation        # journal.sqlite and jobs/<id>/
max_jobs: 2                     # playbook runs at once
max_body_bytes: 1048576
retention_days: 30              # finished jobs, alerts and jobs/<id>/ folders older are purged (hourly)
queued_max_age: 900             # seconds: a job left queued longer when a receiver starts expires, not run
max_queued: 1000                # jobs waiting at most: beyond, POST /alerts is answered 503 with Retry-After
stale_window: 300               # seconds after a resolved in which a firing of its episode is stale
routes:                         # or routes_file: routes.yml
  - name: demo-app-down
    alertname: DemoAppDown
    match: {service: demo-app}          # label equality
    match_regex: {instance: "web.*"}    # full-match regular expressions
    severities: [critical]              # optional: others are recorded and refused
    playbook: incident.remediation.remediate
    mitigation: restart
    labels: [instance, severity]        # the only labels passed (alertname always)
    target_labels: [instance, host]     # the host: first label present, port stripped
    hosts: {"10.0.0.5": web1}           # optional label value -> inventory name
    vars: {options: {escalate: true}}
    cooldown: 300                       # seconds after a run before this route runs again for a host
    concurrency: 1                      # runs of this route at once
    timeout: 1800                       # seconds a job may run: then it is stopped and recorded timed_out
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from incident_remediation.errors import ConfigError
from incident_remediation.routing import DEFAULT_TIMEOUT, Route, compile_regex

ROUTE_KEYS = {
    "name", "alertname", "match", "match_regex", "severities", "playbook", "mitigation", "service", "labels",
    "target_labels", "hosts", "vars", "cooldown", "concurrency", "timeout",
}  # fmt: skip
TOP_KEYS = {
    "listen", "token_file", "inventory", "ansible_config", "data_dir", "max_jobs", "max_body_bytes",
    "retention_days", "routes", "routes_file", "envvars", "awx", "queued_max_age", "max_queued",
    "stale_window",
}  # fmt: skip
AWX_KEYS = {"url", "token_file", "job_templates", "verify_tls", "poll_seconds", "timeout_seconds"}


@dataclass
class AwxSettings:
    """The awx section, checked: where jobs launch instead of the local ansible-runner (awx.py)."""

    url: str
    token: str
    job_templates: dict[str, int] = field(default_factory=dict)
    verify_tls: bool = True
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0


@dataclass
class Config:
    source: str
    routes: list[Route]
    listen_host: str = "127.0.0.1"
    listen_port: int = 9095
    token_file: str = ""
    inventory: str = ""
    ansible_config: str = ""
    data_dir: Path = Path("/var/lib/incident-remediation")
    max_jobs: int = 2
    max_body_bytes: int = 1024 * 1024
    retention_days: float = 30
    queued_max_age: float = 900
    max_queued: int = 1000
    stale_window: float = 300
    envvars: dict[str, str] = field(default_factory=dict)
    awx: dict = field(default_factory=dict)

    def _secret(self, env: str, path: str, key: str) -> str:
        """A secret from the environment variable ``env``, else from the file ``path`` (``key`` names it).

        It is one word on one line (surrounding whitespace, such as the file's last newline, is dropped):
        several lines, or a space or control character inside, are refused rather than guessed at (the first
        line of two tokens, or of a comment and a token, is not the one meant; the whole could never match)."""
        secret, origin = os.environ.get(env, "").strip(), env
        if not secret and path:
            try:
                secret, origin = Path(path).read_text(encoding="utf-8").strip(), path
            except OSError as exc:
                raise ConfigError(self.source, key, f"cannot read {path}: {exc.strerror}") from None
        lines = len(secret.splitlines())
        if lines > 1:
            problem = f"{origin} holds {lines} lines: it must hold the token alone, on one line"
            raise ConfigError(self.source, key, problem)
        if any(c.isspace() or not c.isprintable() for c in secret):
            raise ConfigError(self.source, key, f"{origin} has a space or a control character inside the token")
        return secret

    def awx_settings(self) -> AwxSettings | None:
        """AWX launching instead of the local runner, when configured; the token from REMEDIATE_AWX_TOKEN or a file."""
        if not self.awx:
            return None
        token = self._secret("REMEDIATE_AWX_TOKEN", self.awx.get("token_file", ""), "awx.token_file")
        if not token:
            raise ConfigError(self.source, "awx.token_file", "no AWX token (awx.token_file or REMEDIATE_AWX_TOKEN)")
        return AwxSettings(url=self.awx["url"], token=token, job_templates=self.awx.get("job_templates", {}),
                           verify_tls=self.awx.get("verify_tls", True), poll_seconds=self.awx.get("poll_seconds", 5),
                           timeout_seconds=self.awx.get("timeout_seconds", 3600))  # fmt: skip

    def token(self) -> str:
        """The bearer token: REMEDIATE_TOKEN, else token_file (one line); never in the config itself."""
        token = self._secret("REMEDIATE_TOKEN", self.token_file, "token_file")
        if len(token) < 16:
            raise ConfigError(self.source, "token_file", "no bearer token of at least 16 characters "
                              "(token_file or REMEDIATE_TOKEN)")  # fmt: skip
        return token


def _kind(source: str, key: str, value, kind, what: str):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(source, key, f"must be {what}, got {type(value).__name__} {value!r}")
    return value


def _strings(source: str, key: str, value) -> tuple[str, ...]:
    _kind(source, key, value, list, "a list of strings")
    for item in value:
        _kind(source, key, item, str, "a list of strings")
    return tuple(value)


def _mapping(source: str, key: str, value) -> dict[str, str]:
    _kind(source, key, value, dict, "a mapping of strings")
    for name, item in value.items():
        _kind(source, f"{key}.{name}", item, str, "a string")
    return dict(value)


def _number(source: str, key: str, value, minimum: float, integer: bool = False):
    _kind(source, key, value, int if integer else (int, float), "an integer" if integer else "a number")
    if value < minimum:
        raise ConfigError(source, key, f"must be at least {minimum}, got {value}")
    return value


def parse_route(source: str, index: int, raw) -> Route:
    where = f"routes[{index}]"
    _kind(source, where, raw, dict, "a mapping")
    unknown = set(raw) - ROUTE_KEYS
    if unknown:
        raise ConfigError(source, where, f"unknown keys {sorted(unknown)} (allowed: {', '.join(sorted(ROUTE_KEYS))})")
    for required in ("name", "alertname", "playbook"):
        if not isinstance(raw.get(required), str) or not raw[required]:
            raise ConfigError(source, f"{where}.{required}", "is required (a non-empty string)")
    where = f"routes[{raw['name']}]"
    regex = {}
    for name, pattern in _mapping(source, f"{where}.match_regex", raw.get("match_regex", {})).items():
        try:
            regex[name] = compile_regex(pattern)  # RE2, bounded: see routing
        except ValueError as exc:
            raise ConfigError(source, f"{where}.match_regex.{name}", str(exc)) from None
    variables = _kind(source, f"{where}.vars", raw.get("vars", {}), dict, "a mapping")
    reserved = {"alert", "incident_id", "target"} & set(variables)
    if reserved:
        raise ConfigError(source, f"{where}.vars", f"{sorted(reserved)} are set by the receiver, not by a route")
    return Route(
        name=raw["name"],
        alertname=raw["alertname"],
        playbook=raw["playbook"],
        equal=_mapping(source, f"{where}.match", raw.get("match", {})),
        regex=regex,
        severities=tuple(s.lower() for s in _strings(source, f"{where}.severities", raw.get("severities", []))),
        labels=_strings(source, f"{where}.labels", raw.get("labels", ["instance", "severity", "service", "job"])),
        target_labels=_strings(source, f"{where}.target_labels", raw.get("target_labels", ["instance", "host"])),
        hosts=_mapping(source, f"{where}.hosts", raw.get("hosts", {})),
        mitigation=_kind(source, f"{where}.mitigation", raw.get("mitigation", ""), str, "a string"),
        service=_kind(source, f"{where}.service", raw.get("service", ""), str, "a string"),
        variables=variables,
        cooldown=float(_number(source, f"{where}.cooldown", raw.get("cooldown", 300), 0)),
        concurrency=_number(source, f"{where}.concurrency", raw.get("concurrency", 1), 1, integer=True),
        timeout=float(_number(source, f"{where}.timeout", raw.get("timeout", DEFAULT_TIMEOUT), 1)),
    )


def _load_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "", f"not valid YAML: {exc}") from None


def load(path: str | Path) -> Config:
    path = Path(path)
    source = str(path)
    raw = _load_yaml(path) or {}
    _kind(source, "(top level)", raw, dict, "a mapping")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        allowed = ", ".join(sorted(TOP_KEYS))
        raise ConfigError(source, "(top level)", f"unknown keys {sorted(unknown)} (allowed: {allowed})")
    if "routes" in raw and "routes_file" in raw:
        raise ConfigError(source, "routes", "give routes or routes_file, not both")
    routes_source, routes_raw = source, raw.get("routes")
    if "routes_file" in raw:
        routes_path = path.parent / _kind(source, "routes_file", raw["routes_file"], str, "a path")
        routes_source = str(routes_path)
        loaded = _load_yaml(routes_path) or {}
        routes_raw = loaded.get("routes") if isinstance(loaded, dict) else loaded
    _kind(routes_source, "routes", routes_raw, list, "a list of routes")
    routes = [parse_route(routes_source, i, r) for i, r in enumerate(routes_raw)]
    names = [r.name for r in routes]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(routes_source, "routes", f"route names must be unique: {duplicated}")
    listen = _kind(source, "listen", raw.get("listen", "127.0.0.1:9095"), str, "host:port")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(source, "listen", f"must be host:port, got {listen!r}")

    def relative(key: str) -> str:
        value = _kind(source, key, raw.get(key, ""), str, "a path")
        return str((path.parent / value).resolve()) if value else ""

    awx = _kind(source, "awx", raw.get("awx", {}), dict, "a mapping")
    if awx:
        unknown = set(awx) - AWX_KEYS
        if unknown:
            raise ConfigError(source, "awx", f"unknown keys {sorted(unknown)} (allowed: {', '.join(sorted(AWX_KEYS))})")
        if not str(awx.get("url", "")).startswith(("http://", "https://")):
            raise ConfigError(source, "awx.url", f"must be an http(s) URL, got {awx.get('url')!r}")
        templates = _kind(source, "awx.job_templates", awx.get("job_templates", {}), dict, "a mapping")
        for playbook, template in templates.items():
            _number(source, f"awx.job_templates.{playbook}", template, 1, integer=True)
        if "token_file" in awx:
            awx["token_file"] = str((path.parent / str(awx["token_file"])).resolve())
    return Config(
        source=source,
        awx=awx,
        routes=routes,
        listen_host=host.strip("[]"),
        listen_port=int(port),
        token_file=relative("token_file"),
        inventory=relative("inventory"),
        ansible_config=relative("ansible_config"),
        data_dir=Path(relative("data_dir") or "/var/lib/incident-remediation"),
        max_jobs=_number(source, "max_jobs", raw.get("max_jobs", 2), 1, integer=True),
        max_body_bytes=_number(source, "max_body_bytes", raw.get("max_body_bytes", 1024 * 1024), 1024, integer=True),
        retention_days=_number(source, "retention_days", raw.get("retention_days", 30), 0),
        queued_max_age=_number(source, "queued_max_age", raw.get("queued_max_age", 900), 1),
        max_queued=_number(source, "max_queued", raw.get("max_queued", 1000), 1, integer=True),
        stale_window=_number(source, "stale_window", raw.get("stale_window", 300), 0),
        envvars=_mapping(source, "envvars", raw.get("envvars", {})),
    )
