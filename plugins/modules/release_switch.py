#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: release_switch
short_description: Point a deployment's current symlink at another release, atomically
version_added: 0.1.0
description:
  - Works on the ansistrano layout, releases in C(<root>/releases/<version>/) and C(<root>/current) a symlink to
    one of them.
  - The target is O(version), or by default the newest release older than the current one that is not marked
    bad. Versions are ordered naturally (V(1.10.0) after V(1.9.2)).
  - The release rolled away from is marked bad with a marker file in its directory (so the next rollback does
    not return to it) and stays on disk as evidence.
  - The marker is written without following links. The release directory is opened with C(O_NOFOLLOW), the
    marker is written to a new file and renamed into place, so a link or a hard link planted under the marker's
    name never redirects the write. A marker that is there but is not a plain file (a symlink, a directory) is
    refused before any change, naming the path, as a sign of tampering.
  - When C(current) points at a release directory that is not there (a deploy that died half way), that release
    is the bad one. It has no directory to hold a marker, so none is written; RV(previous_missing) says so
    and the target is the newest good release older than it.
  - The switch is atomic, a new symlink made beside C(current) and renamed over it.
  - No current release, no previous good release, an unknown or bad target, or a target without
    O(required_files) is a failure that changes nothing. So is a required file that is a link, or under a
    directory that is a link (the rollback role copies the config backup as root, and a planted link could point
    at any file on the host).
  - In check mode it reports the switch it would make. When C(current) already points at the target nothing
    changes.
author: incident.remediation contributors
attributes:
  check_mode:
    support: full
    description: Reports the switch it would make.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: full
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: full
    details: Idempotent for a given O(version); without it each run steps back one good release.
options:
  root:
    description: The deployment root, holding C(releases/) and C(current).
    type: path
    required: true
  version:
    description: The release to switch to. Default, the newest good release older than the current one.
    type: str
  required_files:
    description: Files the target release must contain (relative to its directory).
    type: list
    elements: str
    default: []
  mark_bad:
    description: Mark the release rolled away from as bad.
    type: bool
    default: true
  reason:
    description: Recorded in the bad marker.
    type: str
    default: rolled back
  allow_bad:
    description:
      - Switch to O(version) even when it is marked bad; its marker is kept. The rollback role uses it to go back
        to the release it started from when the release it rolled back to is broken too.
    type: bool
    default: false
  bad_marker:
    description: Name of the marker file in a bad release's directory.
    type: str
    default: .incident-remediation-bad
"""

EXAMPLES = r"""
- name: Roll back to the last good release
  incident.remediation.release_switch:
    root: /opt/demo-app
    required_files: [demo_app.py, config.yml]
    reason: "incident INC-20261123-0042: restart did not restore health"
  register: switch

- name: Roll back to a named release
  incident.remediation.release_switch:
    root: /opt/demo-app
    version: "1.4.2"
"""

RETURN = r"""
previous:
  description: The release C(current) pointed at before.
  returned: always
  type: str
  sample: "1.1.0"
previous_missing:
  description:
    - V(true) when C(current) pointed at a release directory that does not exist (a deploy that did not finish).
      That release is the bad one; no marker is written for it.
  returned: always
  type: bool
  sample: false
target:
  description: The release C(current) points at now (or would, in check mode).
  returned: always
  type: str
  sample: "1.0.0"
marked_bad:
  description: The release marked bad by this run, if any (none for a missing RV(previous)).
  returned: always
  type: str
releases:
  description: Every release, oldest first, with its C(version) and whether it is C(bad).
  returned: always
  type: list
  elements: dict
"""

import contextlib
import json
import os
import re
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.names import RELEASE_NAME


def version_key(name: str) -> list:
    """Natural order: numbers compare as numbers, so 1.10.0 comes after 1.9.2."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|[^\d.+-]+", name)]


class Deployment:
    def __init__(self, root: str, marker: str) -> None:
        self.root = root
        self.releases_dir = os.path.join(root, "releases")
        self.current_link = os.path.join(root, "current")
        self.marker = marker

    def releases(self) -> list[str]:
        names = [
            n
            for n in os.listdir(self.releases_dir)
            if RELEASE_NAME.match(n) and os.path.isdir(os.path.join(self.releases_dir, n))
        ]
        return sorted(names, key=version_key)

    def is_bad(self, name: str) -> bool:
        """Any entry under the marker's name counts, a planted link too: never roll back to such a release."""
        return os.path.lexists(os.path.join(self.releases_dir, name, self.marker))

    def exists(self, name: str) -> bool:
        """The release is a real directory in releases/ (not missing, not a link, not a file)."""
        path = os.path.join(self.releases_dir, name)
        return os.path.isdir(path) and not os.path.islink(path)

    def current(self) -> str:
        if not os.path.islink(self.current_link):
            raise ValueError(f"{self.current_link} is not a symlink: no current release to roll back from")
        target = os.path.realpath(self.current_link)
        if os.path.dirname(target) != os.path.realpath(self.releases_dir):
            raise ValueError(f"{self.current_link} points at {target}, not at a release in {self.releases_dir}")
        return os.path.basename(target)

    def check_marker(self, name: str, dir_fd: int | None = None) -> None:
        """Refuse a marker path that is there and is not a plain file: it was not written by us.
        With ``dir_fd`` (the release directory, opened without following links) it is looked up there."""
        path = os.path.join(self.releases_dir, name, self.marker)
        where = self.marker if dir_fd is not None else path
        try:
            mode = os.stat(where, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISREG(mode):
            kind = (
                f"a symlink to {os.readlink(where, dir_fd=dir_fd)}"
                if stat.S_ISLNK(mode)
                else "a directory or special file"
            )
            raise ValueError(
                f"{path} is not a plain file but {kind}: refusing to write the bad marker through it, nothing"
                f" changed. It may have been planted; remove it after review and run again"
            )

    def mark_bad(self, name: str, details: dict) -> None:
        """Write the marker without following links: the release directory is opened O_NOFOLLOW, the marker is
        written to a new file (O_EXCL, O_NOFOLLOW) and renamed over the old one, never written through it."""
        releases = os.open(self.releases_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            release = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=releases)
        finally:
            os.close(releases)
        tmp = f"{self.marker}.{os.getpid()}.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=release)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=release)
            with os.fdopen(fd, "w") as handle:
                os.fchmod(handle.fileno(), 0o644)
                json.dump(details, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            self.check_marker(name, dir_fd=release)
            os.rename(tmp, self.marker, src_dir_fd=release, dst_dir_fd=release)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=release)
            raise
        finally:
            os.close(release)

    def switch(self, name: str) -> None:
        tmp = os.path.join(self.root, f".current.{os.getpid()}.tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.path.join("releases", name), tmp)
        os.replace(tmp, self.current_link)


def choose(deployment: Deployment, current: str, wanted: str | None, releases: list[str], allow_bad: bool) -> str:
    if wanted is not None:
        if not RELEASE_NAME.match(wanted):
            raise ValueError(f"version {wanted!r} is not a release name")
        if wanted not in releases:
            raise ValueError(f"release {wanted} not found in {deployment.releases_dir} (have: {', '.join(releases)})")
        if wanted != current and deployment.is_bad(wanted) and not allow_bad:
            raise ValueError(f"release {wanted} is marked bad; remove its {deployment.marker} to allow it")
        return wanted
    older = [r for r in releases if version_key(r) < version_key(current) and not deployment.is_bad(r)]
    if not older:
        bad = [r for r in releases if deployment.is_bad(r)]
        raise ValueError(
            f"no previous good release to roll back to: current {current}, releases {', '.join(releases)}"
            + (f", marked bad {', '.join(bad)}" if bad else "")
        )
    return older[-1]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "version": {"type": "str"},
            "required_files": {"type": "list", "elements": "str", "default": []},
            "mark_bad": {"type": "bool", "default": True},
            "reason": {"type": "str", "default": "rolled back"},
            "bad_marker": {"type": "str", "default": ".incident-remediation-bad"},
            "allow_bad": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not RELEASE_NAME.match(params["bad_marker"].lstrip(".")):
        module.fail_json(msg=f"bad_marker {params['bad_marker']!r} must be a plain file name")
    deployment = Deployment(params["root"], params["bad_marker"])
    try:
        releases = deployment.releases()
        current = deployment.current()
        target = choose(deployment, current, params["version"], releases, params["allow_bad"])
    except FileNotFoundError as exc:
        module.fail_json(msg=f"not a deployment: {exc.filename} does not exist")
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    release_dir = os.path.realpath(os.path.join(deployment.releases_dir, target))
    for name in params["required_files"]:
        path = os.path.normpath(os.path.join(deployment.releases_dir, target, name))
        if name.startswith("/") or ".." in name.split("/") or not os.path.lexists(path):
            module.fail_json(msg=f"release {target} lacks {name}: refusing to switch to it", target=target)
        # A required file is read from the release (the role copies the config backup into the live config, as
        # root): a link planted in its place, or on a directory above it, could point at any file on the host.
        if os.path.realpath(path) != os.path.join(release_dir, os.path.normpath(name)):
            module.fail_json(
                msg=f"release {target} has {name} as a link (to {os.path.realpath(path)}), not a file of its own:"
                " refusing to switch to it, nothing changed",
                target=target,
            )
    changed = target != current
    missing = not deployment.exists(current)
    marked = current if changed and params["mark_bad"] and not missing else None
    if marked:
        try:
            deployment.check_marker(marked)
        except ValueError as exc:
            module.fail_json(msg=str(exc), previous=current, target=target)
    if changed and not module.check_mode:
        if marked:
            try:
                deployment.mark_bad(marked, {"at": time.time(), "reason": params["reason"], "replaced_by": target})
            except (OSError, ValueError) as exc:
                module.fail_json(
                    msg=f"cannot write the bad marker of release {marked} without following links"
                    f" ({os.path.join(deployment.releases_dir, marked, deployment.marker)}: {exc}): current not"
                    f" switched, still {current}",
                    previous=current,
                    target=target,
                )
        try:
            deployment.switch(target)
        except OSError as exc:
            module.fail_json(
                msg=f"cannot switch {deployment.current_link} to releases/{target}: {exc}; it still points at"
                f" releases/{current}" + (f" and {marked} is marked bad" if marked else ""),
                previous=current,
                target=target,
            )
    listing = [{"version": r, "bad": deployment.is_bad(r) or r == marked} for r in releases]
    before = f"current -> releases/{current}" + (" (missing)" if missing else "")
    module.exit_json(
        changed=changed,
        previous=current,
        previous_missing=missing,
        target=target,
        marked_bad=marked,
        releases=listing,
        diff={"before": before + "\n", "after": f"current -> releases/{target}\n"},
    )


if __name__ == "__main__":
    main()
