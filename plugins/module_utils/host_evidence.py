# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the runbooks ask to keep from a host beside the unit's state: the running version, the journal over a
time window, and the unit's core dumps (seed 002 P1-001 step 3), each bounded. Used by unit_evidence.

A version is data read from a host: it is kept only when it is a version (deployments.VERSION), else the
collector says what it saw, clipped. No collector fails the read: each says what it could not do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time

from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient
from ansible_collections.incident.remediation.plugins.module_utils.deployments import VERSION, capped, check_ref
from ansible_collections.incident.remediation.plugins.module_utils.errors import TransportError
from ansible_collections.incident.remediation.plugins.module_utils.health import command_problem, run_health_command

SOURCES = ("symlink", "git", "url", "command")
VERSION_BYTES = 65536  # read of a version URL's answer at most
JOURNAL_BYTES = 262144  # the journal kept at most (the newest lines)
INFO_BYTES = 65536  # coredumpctl info kept per dump at most
COREDUMPS_KEPT = 3  # the newest dumps of the window described
COREDUMP_MESSAGE = "fc2e22bc6ee647b6b90729ab34a250b1"  # systemd-coredump's journal MESSAGE_ID


def _shown(value, limit: int = 64) -> str:
    return repr(str(value)[:limit])


def version_problem(spec: dict) -> str:
    """Why ``spec`` (unit_evidence's version option) cannot be read ('' when it can)."""
    source = spec.get("source") or ""
    if source not in SOURCES:
        return f"version.source must be one of {', '.join(SOURCES)}, not {_shown(source)}"
    if source in ("symlink", "git") and not os.path.isabs(spec.get("path") or ""):
        what = "the deployment root holding current" if source == "symlink" else "the git working tree"
        return f"version.path must be {what} as an absolute path, not {_shown(spec.get('path') or '')}"
    if source == "url" and not re.match(r"(?i)https?://", spec.get("url") or ""):
        return f"version.url must be an http(s) URL, not {_shown(spec.get('url') or '')}"
    if source == "command":
        wrong = command_problem(spec.get("command") or [], spec.get("timeout"))
        return wrong.replace("health_command", "version.command") if wrong else ""
    return ""


def _checked(value, where: str) -> dict:
    text = str(value).strip()
    if VERSION.match(text):
        return {"version": text, "error": ""}
    return {"version": "", "error": f"{where} is not a version (letters, digits, ._+-, at most 128): {_shown(text)}"}


def _symlink(root: str) -> dict:
    link = os.path.join(root, "current")
    try:
        target = os.readlink(link)
    except OSError as exc:
        return {"version": "", "error": f"{link} is not a readable link: {exc.strerror}"}
    parts = [part for part in target.rstrip("/").split("/") if part]
    if len(parts) < 2 or parts[-2] != "releases":
        return {"version": "", "error": f"{link} points to {_shown(target, 200)}, not releases/<version>"}
    return _checked(parts[-1], f"the release {link} points to")


def _read_small(path: str, limit: int = 4096) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _git(tree: str) -> dict:
    """The commit checked out, read from .git's files: no git runs, so nothing of the tree's config or hooks does."""
    gitdir = os.path.join(tree, ".git")
    if not os.path.isdir(gitdir) or os.path.islink(gitdir):
        return {"version": "", "error": f"{tree} is not the top of a git working tree (no .git directory in it)"}
    if os.path.lexists(os.path.join(gitdir, "commondir")):
        return {"version": "", "error": f"{gitdir}/commondir sends git elsewhere: not read (review the tree)"}
    name = "HEAD"
    try:
        for _ in range(5):  # HEAD -> refs/heads/main -> a commit; a longer chain of symbolic refs is not read
            path = os.path.join(gitdir, name)
            text = _read_small(path).strip() if os.path.lexists(path) else _packed(gitdir, name)
            if not text.startswith("ref: "):
                return _commit(text, f"{gitdir}/{name}")
            name = check_ref(text[5:].strip())
            if not name.startswith("refs/"):
                return {"version": "", "error": f"{gitdir}/HEAD names {_shown(name)}, not a ref under refs/"}
    except (OSError, ValueError) as exc:
        return {"version": "", "error": f"the commit checked out in {tree} cannot be read: {exc}"}
    return {"version": "", "error": f"{gitdir}/HEAD: more than 5 symbolic refs"}


def _packed(gitdir: str, name: str) -> str:
    with contextlib.suppress(FileNotFoundError):
        for line in _read_small(os.path.join(gitdir, "packed-refs"), 16 * 1024 * 1024).splitlines():
            sha, _, ref = line.partition(" ")
            if ref == name:
                return sha
    return ""


def _commit(text: str, where: str) -> dict:
    if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", text):
        return {"version": text, "error": ""}
    return {"version": "", "error": f"{where} holds no commit: {_shown(text)}"}


def _url(url: str, field: str, timeout: float) -> dict:
    try:
        response = HttpClient(timeout=timeout).request("GET", url, None)
    except TransportError as exc:
        return {"version": "", "error": f"{url}: {exc.reason}"}
    if response.status != 200:
        return {"version": "", "error": f"{url}: HTTP {response.status}"}
    try:
        value = json.loads(response.text[:VERSION_BYTES])
    except ValueError:
        return {"version": "", "error": f"{url} did not answer JSON: {_shown(response.text)}"}
    for key in field.split("."):
        if not isinstance(value, dict) or key not in value:
            return {"version": "", "error": f"{url}: the answer has no field {field}"}
        value = value[key]
    if isinstance(value, (dict, list)) or value is None:
        return {"version": "", "error": f"{url}: the field {field} is not a version: {_shown(json.dumps(value))}"}
    return _checked(value, f"{url}'s field {field}")


def _command(argv: list[str], timeout: float) -> dict:
    ok, seen = run_health_command(argv, timeout)
    if not ok:
        return {"version": "", "error": f"version command {seen['error']}"}
    lines = [line.strip() for line in seen["stdout"].splitlines() if line.strip()]
    return _checked(lines[0] if lines else "", f"the first line {argv[0]} printed")


def read_version(spec: dict) -> dict:
    """The running version by the service's source: {source, from, version, error}; {} without a source."""
    if not spec:
        return {}
    source = spec["source"]
    where = {"symlink": os.path.join(spec.get("path") or "", "current"), "git": spec.get("path") or "",
             "url": spec.get("url") or "", "command": " ".join(spec.get("command") or [])}[source]  # fmt: skip
    if source == "symlink":
        read = _symlink(spec["path"])
    elif source == "git":
        read = _git(spec["path"])
    elif source == "url":
        read = _url(spec["url"], spec.get("field") or "version", float(spec.get("timeout") or 5))
    else:
        read = _command(spec["command"], float(spec.get("timeout") or 5))
    return {"source": source, "from": where, **read}


def journal_argv(unit: str, lines: int, since: int, now: float | None = None) -> list[str]:
    """journalctl of the unit: the last ``lines`` lines, within the last ``since`` seconds when ``since``."""
    argv = ["journalctl", "--unit", unit, "--lines", str(lines), "--no-pager"]
    if since:
        argv[3:3] = ["--since", f"@{int((now or time.time()) - since)}"]
    return argv


def journal_window(lines: int, since: int, limit: int, now: float | None = None) -> dict:
    """What the journal kept covers, said in logs.txt: the window (from, seconds), at most lines and bytes."""
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now or time.time()) - since)) if since else ""
    return {"since": start, "seconds": since, "lines": lines, "bytes": limit}


def cap_tail(text: str, limit: int) -> str:
    return capped(text, limit) if limit else text


def coredumps(module, unit: str, since: int, *, keep_dir: str, max_size: int, errors: list[str]) -> dict:
    """The unit's core dumps systemd-coredump stored in the last ``since`` seconds (the newest COREDUMPS_KEPT):
    coredumpctl info of each (capped), and the dump itself copied into ``keep_dir`` on the host when it is at
    most ``max_size`` bytes (not in check mode, and never sent to the controller: a dump holds the process's
    memory, its secrets included). {} when not asked."""
    if not since:
        return {}
    binary = shutil.which("coredumpctl")
    if binary is None:
        return {"dumps": [], "note": "coredumpctl is not installed on this host (package systemd-coredump)"}
    start = f"@{int(time.time() - since)}"
    match = f"COREDUMP_UNIT={unit}"
    rc, out, err = module.run_command([binary, "--no-pager", "--json=short", "list", "--since", start, match])
    if rc != 0:
        said = " ".join((err or out).split())[:300]
        if "No coredumps found" in said:
            return {"dumps": [], "note": f"no core dump of {unit} in the last {since} s"}
        errors.append(f"coredumpctl list: exit {rc}: {said}")
        return {"dumps": [], "note": f"not read: coredumpctl list exit {rc}: {said}"}
    try:
        listed = [entry for entry in json.loads(out) if isinstance(entry, dict)]
    except ValueError:
        errors.append("coredumpctl list: not JSON")
        return {"dumps": [], "note": "not read: coredumpctl list did not answer JSON"}
    dumps = [
        _dump(module, binary, entry, start, match, keep_dir=keep_dir, max_size=max_size)
        for entry in listed[-COREDUMPS_KEPT:]
    ]
    return {"dumps": dumps, "note": f"{len(listed)} core dump(s) of {unit} in the last {since} s"}


def _dump(module, binary: str, entry: dict, start: str, match: str, *, keep_dir: str, max_size: int) -> dict:
    pid = str(entry.get("pid", ""))
    rc, info, err = module.run_command(
        [binary, "--no-pager", "info", "--since", start, match, f"COREDUMP_PID={pid}"]
    )  # fmt: skip
    info = info if rc == 0 else f"not readable (exit {rc}): {' '.join(err.split())[:300]}"
    stamp = entry.get("time")
    dump = {
        "pid": pid, "signal": entry.get("sig"), "exe": str(entry.get("exe", ""))[:300],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp / 1e6)) if isinstance(stamp, int) else "",
        "size": entry.get("size"), "info": capped(info, INFO_BYTES), "storage": "", "kept": "", "sha256": "",
    }  # fmt: skip
    found = re.search(r"^\s*Storage: (/\S+)(?: \(present\))?$", info, re.MULTILINE)
    if not found or "(present)" not in found.group(0):
        dump["kept"] = "not kept: systemd-coredump stored no file for it (see Storage in info)"
        return dump
    dump["storage"] = found.group(1)
    dump["kept"] = _keep(module, dump["storage"], keep_dir, max_size, dump)
    return dump


def _keep(module, storage: str, keep_dir: str, max_size: int, dump: dict) -> str:
    """Copy the stored dump (as systemd-coredump compressed it) beside the incident's evidence on the host."""
    if not keep_dir:
        return f"left where systemd-coredump keeps it, {storage} (it vacuums old dumps)"
    try:
        size = os.stat(storage).st_size
    except OSError as exc:
        return f"not kept: {storage}: {exc.strerror}"
    if size > max_size:
        return f"not kept: {size} bytes is over the cap of {max_size}; still at {storage} until vacuumed"
    target = os.path.join(keep_dir, os.path.basename(storage))
    if module.check_mode:
        return f"check mode: would copy {storage} ({size} bytes) to {target}"
    try:
        os.makedirs(keep_dir, mode=0o700, exist_ok=True)
        digest = hashlib.sha256()
        source = os.open(storage, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(source, "rb") as reader:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as writer:
                for block in iter(lambda: reader.read(1 << 20), b""):
                    digest.update(block)
                    writer.write(block)
    except OSError as exc:
        return f"not kept: copying {storage} to {target}: {exc.strerror}"
    dump["sha256"] = digest.hexdigest()
    dump["changed"] = True
    return target


# What each source reads in the service's description (services.NAME), the keys it already has for its rollback.
SERVICE_KEYS = {"symlink": ("release_root",), "git": ("git_repo",), "url": ("version_url",),
                "command": ("version_command",)}  # fmt: skip


def version_spec(service: dict) -> dict:
    """unit_evidence's version option for a service ({} when it names no version_source); ValueError naming the
    key when the service cannot be read so. The service is described once: the symlink source reads its
    release_root, git its git_repo, command its version_command (all the rollback's), url its version_url."""
    source = service.get("version_source") or ""
    if not source:
        return {}
    if source not in SERVICE_KEYS:
        raise ValueError(f"version_source {source!r} is not one of {', '.join(SOURCES)}")
    key = SERVICE_KEYS[source][0]
    value = service.get(key)
    if not value:
        raise ValueError(f"version_source {source} reads {key}, which the service does not have")
    if source == "command":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"version_command must be an argv list (no shell), not {_shown(value)}")
        return {"source": source, "command": value}
    if source == "url":
        return {"source": source, "url": str(value), "field": str(service.get("version_field") or "version")}
    return {"source": source, "path": str(value)}
