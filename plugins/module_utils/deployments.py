# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployments that are not a releases/ directory with a current link: a git working tree, an operator's script.

The pure parts (a git ref and a version checked as data, output capped) and the one record of the good and
bad versions of a unit the rollback role keeps on the host (``<state_dir>/<unit>.json``), written without
following links. Used by the modules git_deployment and rollback_command.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time

from ansible_collections.incident.remediation.plugins.module_utils.names import UNIT_NAME

# A version handed to an operator's script as one argv element: v1.2.3, 1.4.0-rc.1, a commit SHA. It starts
# with a letter or digit (never '-', so it is never an option), no space, no shell or control character.
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")
# A git ref or commit: origin/deployment-stable, v1.2.3, a SHA (git check-ref-format says the rest on the host).
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}\Z")
STATE_DIR = "/var/lib/incident-remediation/rollback"
OUTPUT_CAP = 65536


def check_version(value) -> str:
    """``value`` if it is a version to roll back to, else ValueError saying what a version may be."""
    if not isinstance(value, str) or not VERSION.match(value):
        raise ValueError(
            f"version {value!r} is not a version: letters, digits and ._+- (at most 128), starting with a letter"
            " or digit (e.g. v1.2.3 or a commit SHA)"
        )
    return value


def check_ref(value) -> str:
    """``value`` if it can only be read as a git ref or commit, never as an option or a range; else ValueError."""
    reason = ""
    if not isinstance(value, str) or not _REF.match(value):
        reason = "letters, digits and ._/+- only, starting with a letter or digit"
    elif ".." in value or "//" in value or "/." in value:
        reason = "no '..', '//' or a component starting with '.'"
    elif value.endswith(("/", ".", ".lock")):
        reason = "not ending in '/', '.' or '.lock'"
    if reason:
        raise ValueError(f"git ref {value!r} is not a ref: {reason} (e.g. origin/deployment-stable or a commit SHA)")
    return value


def capped(data: bytes | str | None, limit: int = OUTPUT_CAP) -> str:
    """Text of at most ``limit`` bytes (the tail, where a script says why it failed), saying how much was cut."""
    if data is None:
        return ""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) <= limit:
        return raw.decode(errors="replace")
    return f"[{len(raw) - limit} bytes cut]\n" + raw[-limit:].decode(errors="replace")


class Records:
    """The good and bad versions (commits, releases) of one unit's deployment, newest last."""

    def __init__(self, state_dir: str, unit: str) -> None:
        if not UNIT_NAME.match(unit):
            raise ValueError(f"unit {unit!r} is not a systemd unit name")
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, f"{unit}.json")

    def read(self) -> dict:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return {"good": [], "bad": []}
        except OSError as exc:
            raise ValueError(f"cannot read {self.path} (a link planted in its place?): {exc}") from exc
        with os.fdopen(fd) as handle:
            try:
                data = json.load(handle)
            except ValueError as exc:
                raise ValueError(f"{self.path} is not JSON ({exc}): move it aside after review") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{self.path} is not a record of good and bad versions: move it aside after review")
        return {kind: [e for e in data.get(kind) or [] if isinstance(e, dict) and "version" in e]
                for kind in ("good", "bad")}  # fmt: skip

    def bad(self) -> set[str]:
        return {entry["version"] for entry in self.read()["bad"]}

    def last_good(self, besides: str = "") -> str:
        """The newest version recorded good that is not bad since and is not ``besides`` (the one running)."""
        records = self.read()
        bad = {entry["version"] for entry in records["bad"]}
        for entry in reversed(records["good"]):
            if entry["version"] not in bad and entry["version"] != besides:
                return entry["version"]
        return ""

    def returned_to(self) -> tuple[str, str]:
        """(the version the last rollback returned to, the one it replaced), or two empty strings."""
        bad = self.read()["bad"]
        replaced_by = bad[-1].get("replaced_by") if bad else None
        return (replaced_by, bad[-1]["version"]) if isinstance(replaced_by, str) and replaced_by else ("", "")

    def mark(self, kind: str, version: str, **details) -> None:
        """Record ``version`` as ``kind`` (good or bad); good again takes it out of bad, and the reverse."""
        records = self.read()
        other = "bad" if kind == "good" else "good"
        records[other] = [e for e in records[other] if e["version"] != version]
        records[kind] = [e for e in records[kind] if e["version"] != version]
        records[kind].append({"version": version, "at": round(time.time(), 3), **details})
        records[kind] = records[kind][-100:]
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        directory = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        name, tmp = os.path.basename(self.path), f".{os.path.basename(self.path)}.{os.getpid()}.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=directory)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=directory)
            with os.fdopen(fd, "w") as handle:
                json.dump(records, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
        finally:
            os.close(directory)
