"""Runs one job's playbook with ansible-runner, in a private data directory per job.

jobs/<id>/env/extravars   the variables, every string marked unsafe (extravars.py)
jobs/<id>/artifacts/      ansible-runner's stdout, events, rc, status, the command and the environment it was
                          given (without the receiver's own variables: withhold, playbook.py)
jobs/<id>/incidents/      the incident timeline, evidence and post-incident report
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from incident_remediation.config import Config
from incident_remediation.extravars import write_unsafe
from incident_remediation.playbook import WITHHELD_ENV
from incident_remediation.routing import DEFAULT_TIMEOUT

log = logging.getLogger("incident_remediation")
TIMELINE_CALLBACK = "incident.remediation.incident_timeline"
INVENTORY_TTL = 300.0  # seconds: a dynamic inventory is listed again at least this often
MAX_REASON = 1000  # characters of a job's reason
TEXT = "ansible_collections.incident.remediation.plugins.module_utils.text"  # the collection's redaction
KEPT = frozenset({"HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PWD", "SHELL", "TERM"})  # recorded
RC_MEANING = {1: "an error", 2: "a host failed", 3: "a host was unreachable", 4: "a parser error or an unreachable "
              "host", 5: "bad options", 99: "interrupted", 250: "an unexpected error"}  # fmt: skip


def job_dir(config: Config, job_id: str) -> Path:
    return config.data_dir / "jobs" / job_id


def _ansible_environment(config: Config) -> dict[str, str]:
    """What every ansible command of the front runs with: this environment's ansible, the configured ansible.cfg."""
    bin_dir = str(Path(sys.executable).parent)  # ansible-playbook of the same environment as this process
    env = {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "ANSIBLE_NOCOLOR": "1"}
    if config.ansible_config:
        env["ANSIBLE_CONFIG"] = config.ansible_config
    env.update(config.envvars)
    return env


def _environment(config: Config, folder: Path) -> dict[str, str]:
    """A job's: the timeline callback writing in its folder (the route's envvars still have the last word)."""
    job = {"INCIDENT_TIMELINE_DIR": str(folder / "incidents"), "ANSIBLE_CALLBACKS_ENABLED": TIMELINE_CALLBACK}
    return {**job, **_ansible_environment(config)}


STALE_PRIVATE_SECONDS = 600  # a playbook reads its copy within moments of its start; older is a killed receiver's


def _own_folder(folder: Path) -> bool:
    """``folder`` is a real folder (not a link) of this user that nobody else may enter."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _private_dir(config: Config) -> Path:
    """Where the withheld environment waits for its playbook: memory (the user's runtime folder, /dev/shm) when
    there is one, in a folder of this receiver's own (named after its data dir, 0700, never a link or another
    user's: /dev/shm is shared), else a folder of the data dir only the receiver's user can enter (never a job's
    folder)."""
    name = "remediate-" + hashlib.sha256(str(config.data_dir.resolve()).encode()).hexdigest()[:16]
    for candidate in (os.environ.get("XDG_RUNTIME_DIR", ""), "/dev/shm"):
        if candidate and Path(candidate).is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            folder = Path(candidate) / name
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
            if _own_folder(folder):
                return folder
    folder = config.data_dir / "private"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _sweep(folder: Path) -> None:
    """Remove the copies a receiver killed before its playbook started left behind (secrets, in memory)."""
    now = time.time()
    for left in folder.glob("remediate-env-*"):
        with contextlib.suppress(OSError):
            if now - left.lstat().st_mtime > STALE_PRIVATE_SECONDS:
                left.unlink()


def withhold(config: Config, env: dict[str, str], given: dict[str, str]) -> Path:
    """Take out of ``env`` (what ansible-runner will run the job with, and record in the job's
    ``artifacts/<ident>/command``) every variable it inherited from the receiver's environment but the
    harmless KEPT: the notifier's url_env / routing_key_env, a token, anything an operator exported. They
    go to a private 0600 file that playbook.py reads, deletes and puts back under the job's ``env`` before it
    becomes ansible-playbook: the playbook runs with the same environment, and no job's folder holds it.
    ``given``: the variables the front sets itself (``envvars``: recorded, as ansible-runner's own are).
    The file's path, for the caller to remove should the playbook never start."""
    withheld = {name: value for name, value in env.items()
                if name not in given and os.environ.get(name) == value and name not in KEPT
                and not name.startswith("LC_")}  # fmt: skip
    folder = _private_dir(config)
    _sweep(folder)
    fd, path = tempfile.mkstemp(prefix="remediate-env-", dir=folder)  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(withheld, file)
    for name in withheld:
        del env[name]
    env[WITHHELD_ENV] = path
    return Path(path)


class Inventory:
    """The host and group names of the configured inventory as ansible-inventory lists them (what
    ansible-playbook's --limit matches), so that an alert for a host it does not have is refused at intake.
    Listed again when a file under the inventory path changes, and at least every ``ttl`` seconds (a dynamic
    inventory). Without an ``inventory`` setting (ansible's default inventory) nothing is checked."""

    def __init__(self, config: Config, ttl: float = INVENTORY_TTL) -> None:
        self.config, self.ttl = config, ttl
        self.signature: tuple = ()
        self.listed_at = -ttl
        self.names: tuple[frozenset[str], frozenset[str]] | None = None  # hosts, groups
        self.lock = threading.Lock()

    def _signature(self) -> tuple:
        root = Path(self.config.inventory)
        paths = [root] if not root.is_dir() else sorted(p for p in root.rglob("*") if p.is_file())
        seen = []
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                stat = None
            seen.append((str(path), stat and (stat.st_mtime_ns, stat.st_size, stat.st_ino)))
        return tuple(seen)

    def _list(self) -> tuple[frozenset[str], frozenset[str]] | None:
        command = ["ansible-inventory", "-i", self.config.inventory, "--list"]
        env = {**os.environ, **_ansible_environment(self.config), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"}
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return self._unlisted(f"{type(exc).__name__}: {exc}")
        try:
            listed = json.loads(done.stdout) if done.returncode == 0 else None
        except ValueError:
            listed = None
        if not isinstance(listed, dict):
            said = _ansible_error(done.stdout + "\n" + done.stderr)
            return self._unlisted(said or f"ansible-inventory ended with rc {done.returncode}")
        hosts = set(listed.get("_meta", {}).get("hostvars", {}))
        groups = {name for name in listed if name != "_meta"}
        for group in listed.values():
            if isinstance(group, dict):
                hosts.update(group.get("hosts", []))
        return frozenset(hosts), frozenset(groups)

    def _unlisted(self, problem: str) -> None:
        log.warning("cannot list the hosts of the inventory %s (%s): alerts are not checked against it; their jobs "
                    "will say what ansible-playbook makes of it", self.config.inventory, problem)  # fmt: skip

    def keep_fresh(self, wait: bool = True) -> None:
        """List the inventory again if a file of it changed or the listing is older than ``ttl`` (the receiver
        does this in a worker thread every few seconds, so that an alert seldom waits for ansible-inventory).
        Without ``wait``, a listing under way in another thread is not waited for: the one before serves."""
        if not self.config.inventory or not self.lock.acquire(blocking=wait or not self.signature):
            return
        try:
            signature = self._signature()
            if signature != self.signature or time.monotonic() - self.listed_at > self.ttl:
                self.names, self.signature, self.listed_at = self._list(), signature, time.monotonic()
        finally:
            self.lock.release()

    def missing(self, host: str) -> str:
        """Why ``host`` cannot be run on ('' when it can, or when the inventory is not listed yet or cannot be).
        Reads the last listing only, never lists: ansible-inventory (seconds, a dynamic inventory up to its
        timeout) must not run on the receiver's event loop inside a request's transaction. Who decides must
        have called ``keep_fresh``: the receiver's worker thread, ``remediate route`` before it explains."""
        if not self.config.inventory:
            return ""
        if self.names is None or host in self.names[0]:
            return ""
        where = f"the inventory {self.config.inventory}"
        if host in self.names[1]:
            return f"{host!r} is a group of {where}, not a host: map the alert's label to a host with the route's hosts"
        return (f"host {host!r} is not in {where}: add it there, or map the alert's label to its inventory name "
                "with the route's hosts")  # fmt: skip


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _message(res: dict) -> str:
    """What a failed task said: its message, the command's rc and the last line of its error output."""
    if not isinstance(res, dict):
        return _one_line(res)
    items = [item for item in res.get("results") or [] if isinstance(item, dict) and item.get("failed")]
    if items:  # a loop: the first item that failed says more than "One or more items failed"
        item = items[0]
        return f"item {_one_line(item.get('item', '?'))!r}: {_message(item)}"
    message = _one_line(res.get("msg") or res.get("reason") or "")
    if isinstance(res.get("rc"), int) and res["rc"] != 0:
        message = f"{message or 'failed'} (rc {res['rc']})"
    output = str(res.get("stderr") or res.get("module_stderr") or "").strip()
    last = _one_line(output.splitlines()[-1]) if output else ""
    if last and last not in message:
        message = f"{message}: {last}" if message else last
    return message or "it gave no message (see the job's stdout)"


def describe_failure(event: str, host: str, task: str, res: dict) -> str:
    """One failed or unreachable task, in one line (ansible-runner's events and AWX's job events alike)."""
    if event == "runner_on_unreachable":
        return f"host {host} is unreachable (task {task!r}): {_message(res)}"
    return f"task {task!r} failed on {host}: {_message(res)}"


def _failed_task(events: list[dict]) -> str:
    """The last failure that was not ignored: what ended the run."""
    for event in reversed(events):
        data = event.get("event_data", {})
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            return describe_failure(event["event"], data.get("host", "?"), data.get("task", "?"), data.get("res", {}))
    return ""


ERROR_LINE = re.compile(r"^(?:\[ERROR\]: |ERROR! )(.*)$")


def _ansible_error(output: str) -> str:
    """ansible's own error, when it stopped before (or outside) any task: the message and where it points."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        found = ERROR_LINE.match(line.strip())
        if found:
            text = _one_line(found.group(1))
            origin = next((_one_line(rest[len("Origin:"):]) for rest in lines[i + 1 : i + 4]
                           if rest.startswith("Origin:")), "")  # fmt: skip
            return f"{text} ({origin})" if origin else text
    return ""


def _stdout(folder: Path) -> str:
    try:
        return (folder / "artifacts" / "run" / "stdout").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _in_progress(events: list[dict]) -> str:
    """What a stopped run was doing: the tasks started on a host and not ended, else the last task started."""
    running: dict[tuple[str, str], str] = {}
    last_task = ""
    for event in events:
        data, kind = event.get("event_data", {}), event.get("event", "")
        key = (str(data.get("host", "")), str(data.get("task_uuid", "")))
        if kind == "playbook_on_task_start":
            last_task = str(data.get("task", ""))
        elif kind == "runner_on_start":
            running[key] = f"task {data.get('task', '?')!r} on {data.get('host', '?')}"
        elif kind.startswith("runner_on_") and kind not in ("runner_on_async_poll",):
            running.pop(key, None)
    if running:
        return ", ".join(running.values())
    return f"between tasks, after task {last_task!r} started" if last_task else "no task had started yet"


def collection_module(config: Config, name: str):
    """A module of the collection (``ansible_collections.incident.remediation...``), found through the
    collections path of the configured ansible.cfg: the one the playbooks ran with. Raises ImportError."""
    if name not in sys.modules:
        from ansible.config.manager import ConfigManager  # noqa: PLC0415  (ansible's config: only to find it)

        paths = ConfigManager(conf_file=config.ansible_config or None).get_config_value("COLLECTIONS_PATHS")
        for path in paths:
            if path not in sys.path and (Path(path) / "ansible_collections").is_dir():
                sys.path.append(path)
    return importlib.import_module(name)


def collection_text(config: Config):
    """The collection's own text helpers (plugins/module_utils/text.py, the one place URL credentials are
    redacted)."""
    return collection_module(config, TEXT)


def redacted(config: Config, reason: str) -> str:
    """``reason`` with the user and password of every URL in it shown ``***``: a failed task's message, or what a
    command printed, can quote a URL with credentials. Without the collection's helpers, nothing of it is shown."""
    try:
        return collection_text(config).redact_userinfo(reason)
    except ImportError as exc:
        return f"the reason is withheld: the collection's redaction could not be loaded ({exc}); see the job's stdout"


def _why_it_failed(config: Config, job: dict, runner, folder: Path) -> str:
    events = list(runner.events)
    failed = _failed_task(events)
    if failed:
        return failed
    output = _stdout(folder)
    error = _ansible_error(output)
    if "no hosts to target" in error or ("Could not match supplied host pattern" in output and not events):
        where = f"the inventory {config.inventory}" if config.inventory else "the default inventory (ansible.cfg)"
        return f"host {job['target']!r} is not in {where}: ansible-playbook found no host to run on"
    if error:
        return f"ansible-playbook could not start: {error}"
    rc = runner.rc if runner.rc is not None else -1
    last = next((_one_line(line) for line in reversed(output.splitlines()) if line.strip()), "")
    meaning = RC_MEANING.get(rc) or (f"killed by signal {-rc}" if rc < 0 else "no task failure was recorded")
    said = f"; its last output: {last}" if last else ""
    stdout = folder / "artifacts" / "run" / "stdout"
    return f"ansible-playbook ended {runner.status} with rc {rc} ({meaning}){said}; see {stdout}"


def job_timeout(config: Config | None, job: dict) -> float:
    """The seconds ``job`` may run: its route's timeout (an operator's run has the default)."""
    for route in config.routes if config else []:
        if route.name == job.get("route"):
            return route.timeout
    return DEFAULT_TIMEOUT


def timed_out(job: dict, seconds: float, running: str, bound: str = "") -> str:
    """The reason of a job stopped after ``seconds`` (``bound`` names the setting, when not the route's timeout),
    with what it was still doing (the task in progress)."""
    route = f"the timeout of route {job['route']}" if job.get("route") else "the default timeout"
    return f"did not finish within {seconds:g} s ({bound or route}): still running: {running}"


_IMPORTING = threading.Lock()


def execute(config: Config, job: dict) -> tuple[str, int, str]:
    """(state, rc, reason) after running ``job`` (a journal row) to its end, or to its timeout: then ansible-runner
    stops ansible-playbook and the state is timed_out (the dispatcher stops what is left of it)."""
    folder = job_dir(config, job["id"])
    (folder / "env").mkdir(parents=True, exist_ok=True, mode=0o700)
    variables = {**json.loads(job["extravars"]), "incident_evidence_dir": str(folder / "incidents")}
    write_unsafe(folder / "env" / "extravars", variables)
    with _IMPORTING:  # two jobs starting at once must not both import it: the second saw a module half made
        import ansible_runner  # noqa: PLC0415  (about 14 MiB: loaded by the first job, not by an idle receiver)
    init_runner = ansible_runner.interface.init_runner

    envvars = _environment(config, folder)
    check = ["--check"] if job["check_mode"] else []
    wrapper = [str(Path(__file__).with_name("playbook.py")), job["playbook"], *check]
    runner = init_runner(
        private_data_dir=str(folder),
        ident="run",
        binary=sys.executable,  # -I: neither the environment's PYTHON* nor the script's folder in its path
        cmdline=shlex.join(["-I", *wrapper]),
        inventory=config.inventory or None,
        limit=job["target"],
        envvars=envvars,
        quiet=True,
        timeout=job_timeout(config, job),
    )
    private = withhold(config, runner.config.env, envvars)
    try:
        runner.run()
    finally:
        private.unlink(missing_ok=True)  # read and deleted by playbook.py, unless it never started
    rc = runner.rc if runner.rc is not None else -1
    if runner.status == "timeout":
        running = _in_progress(list(runner.events))
        return "timed_out", rc, timed_out(job, job_timeout(config, job), running)[:MAX_REASON]
    processed = (runner.stats or {}).get("processed", {})
    if rc == 0 and job["target"] not in processed:
        where = config.inventory or "the default inventory"
        return "failed", rc, f"no host {job['target']!r} was run: it is not in {where} (or the playbook skips it)"
    if runner.status == "successful" and rc == 0:
        return "succeeded", rc, ""
    return "failed", rc, redacted(config, _why_it_failed(config, job, runner, folder))[:MAX_REASON]


def timelines(config: Config, job_id: str) -> list[Path]:
    return sorted((job_dir(config, job_id) / "incidents").glob("*/timeline.jsonl"))


def timeline_events(path: Path) -> list[dict]:
    """The events of one timeline file: a torn line (a run killed while writing) or one spoilt by a byte that is
    not UTF-8 is skipped. The front's reading; the report renderer reads the same way in the collection."""
    events = []
    for raw in Path(path).read_bytes().splitlines():
        try:  # each line decoded strictly: a replaced byte inside a string would keep an event nobody wrote
            event = json.loads(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError is one
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def outcomes(config: Config, job_id: str) -> list[dict]:
    """Each host's incident outcome the job recorded, with ``host`` (the timelines' outcome events)."""
    found = []
    for path in timelines(config, job_id):
        for event in timeline_events(path):
            if event.get("event") == "outcome" and isinstance(event.get("data"), dict):
                found.append({**event["data"], "host": str(event.get("host") or "")})
    return found


def job_processes(config: Config, job_id: str) -> list[int]:
    """Live processes started for the job: their environment names its incidents folder."""
    marker = f"INCIDENT_TIMELINE_DIR={job_dir(config, job_id) / 'incidents'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def stop_orphans(config: Config, job_id: str, grace: float = 10.0) -> list[int]:
    """Stop what is left of a job whose receiver died (ansible-playbook and its workers): SIGTERM, then
    SIGKILL after ``grace`` seconds. Left alone, they run on until their next output to the dead receiver,
    so a restarted receiver could start another job on the same host meanwhile. The pids found."""
    found = job_processes(config, job_id)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in job_processes(config, job_id):  # read again: never signal a pid that was reused meanwhile
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while job_processes(config, job_id) and time.monotonic() < deadline:
            time.sleep(0.1)
    return found
