# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sha256 manifests and the files they describe, confined to one root directory.

What the cache purge role trusts: every path that leaves here is inside the
root, symlinks resolved. A manifest with one entry that is absolute, has a
``..`` part, or resolves outside the root is refused whole.

Removal is a second, later step (the evidence is archived in between), so it
trusts nothing it was told: ``remove_confined`` opens the root and each folder
below it without following a link, relative to the folder before (``dir_fd``),
looks at the artifact again, and unlinks it only if it is still what it was
condemned for (the same sha256, the same link target). A folder swapped for a
symlink meanwhile, or an artifact that changed, is refused and said why.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import stat

from ansible_collections.incident.remediation.plugins.module_utils.errors import ManifestError

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}\Z")
_SUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


# A folder opened this way is never a symlink; a file opened this way is never a
# symlink and never blocks (a FIFO planted in the cache is only looked at).
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

ARTIFACT_TYPES = ("file", "link", "special")


def _sha256_fd(fd: int) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: os.read(fd, 1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special"


def identify(name: str, dir_fd: int | None = None) -> dict:
    """What ``name`` is now, never following it: a file with its sha256, a link with its target, or special.

    ``dir_fd`` makes ``name`` relative to an open folder. OSError when it is gone, or changes while it is read.
    """
    kind = _kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    if kind == "link":
        return {"type": "link", "target": os.readlink(name, dir_fd=dir_fd)}
    if kind != "file":
        return {"type": kind}
    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        kind = _kind(os.fstat(fd).st_mode)
        return {"type": "file", "sha256": _sha256_fd(fd)} if kind == "file" else {"type": kind}
    finally:
        os.close(fd)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_flat_yaml(text: str) -> dict:
    entries = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        if line[0] in " \t-":
            raise ManifestError(f"line {lineno}: expected a flat mapping of 'path: sha256'")
        key, sep, value = stripped.rpartition(":")
        if not sep:
            raise ManifestError(f"line {lineno}: expected 'path: sha256', got {stripped!r}")
        entries[_unquote(key)] = _unquote(value)
    return entries


def parse_manifest(text: str, fmt: str = "auto") -> dict:
    """``{relative path: sha256}`` from JSON, a flat YAML mapping, or ``sha256sum`` output."""
    lines = [line for line in text.splitlines() if line.strip()]
    if fmt == "auto":
        if text.lstrip()[:1] in ("{", "["):
            fmt = "json"
        elif lines and all(_SUM_LINE.match(line) for line in lines):
            fmt = "sha256sum"
        else:
            fmt = "yaml"
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ManifestError("a JSON manifest must be an object of path: sha256")
        return {str(k): v for k, v in data.items()}
    if fmt == "sha256sum":
        entries = {}
        for lineno, line in enumerate(lines, start=1):
            match = _SUM_LINE.match(line)
            if not match:
                raise ManifestError(f"line {lineno}: expected '<sha256>  <path>'")
            entries[match.group(2)] = match.group(1)
        return entries
    return _parse_flat_yaml(text)


def confine(root: str, entry: str) -> str:
    """The real path of ``entry`` under ``root``; ManifestError when it is not safely inside."""
    if not isinstance(entry, str) or not entry or any(c in entry for c in "\x00\n\r"):
        raise ManifestError(f"entry {entry!r}: not a usable relative path")
    if os.path.isabs(entry) or entry.startswith("~"):
        raise ManifestError(f"entry {entry!r}: absolute paths are refused")
    if ".." in re.split(r"[\\/]", entry):
        raise ManifestError(f"entry {entry!r}: '..' is refused")
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, entry))
    if full == real_root or os.path.commonpath([real_root, full]) != real_root:
        raise ManifestError(f"entry {entry!r}: resolves to {full}, outside {real_root}")
    return full


def load_manifest(path: str, root: str, fmt: str = "auto") -> dict:
    """Read and check a manifest: every entry confined to ``root``, every digest a sha256."""
    return load_manifest_digest(path, root, fmt)[0]


def load_manifest_digest(path: str, root: str, fmt: str = "auto") -> tuple[dict, str]:
    """``load_manifest`` and the sha256 of the very bytes it read (what the manifest's own verification saw)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    try:
        entries = parse_manifest(text, fmt)
    except ManifestError as exc:
        raise ManifestError(f"manifest {path}: {exc}") from exc
    checked = {}
    for entry, digest in entries.items():
        confine(root, entry)
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ManifestError(f"manifest {path}: entry {entry!r}: {digest!r} is not a sha256 digest")
        checked[os.path.normpath(entry)] = digest.lower()
    return checked, hashlib.sha256(data).hexdigest()


def verify(root: str, manifest: dict, ignore: list[str] | tuple = ()) -> dict:
    """Compare the files under ``root`` with ``manifest``: ok, corrupted, missing, unexpected.

    ``condemned`` is every corrupted and unexpected path with what it is now (``identify``): what
    ``remove_confined`` may remove, and only while it is still that.
    """
    result = {"ok": [], "corrupted": [], "missing": [], "unexpected": [], "condemned": []}
    for entry, expected in sorted(manifest.items()):
        full = confine(root, entry)
        if not os.path.isfile(full):
            result["missing"].append(entry)
            continue
        actual = sha256_file(full)
        if actual == expected:
            result["ok"].append(entry)
        else:
            result["corrupted"].append({"path": entry, "expected": expected, "actual": actual})
    for dirpath, dirs, files in os.walk(root):
        # symlinked directories are not followed, but reported like files
        names = files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if rel not in manifest and not any(fnmatch.fnmatch(rel, pattern) for pattern in ignore):
                result["unexpected"].append(rel)
    result["unexpected"].sort()
    for rel in sorted([c["path"] for c in result["corrupted"]] + result["unexpected"]):
        result["condemned"].append({"path": rel, **identify(os.path.join(root, rel))})
    return result


def relative_parts(entry: object) -> list[str]:
    """The components of a plain relative path (no empty, ``.`` or ``..`` part); ManifestError otherwise."""
    parts = entry.split("/") if isinstance(entry, str) else [""]
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        raise ManifestError(f"{entry!r}: not a plain relative path under the root")
    return parts


def check_artifact(artifact: dict) -> list[str]:
    """The path components of one condemned artifact, after checking it says what it must be checked against."""
    parts = relative_parts(artifact.get("path"))
    kind, path = artifact.get("type"), artifact["path"]
    if kind not in ARTIFACT_TYPES:
        raise ManifestError(f"{path!r}: type must be one of {', '.join(ARTIFACT_TYPES)}, got {kind!r}")
    if kind == "file" and not (isinstance(artifact.get("sha256"), str) and _SHA256.match(artifact["sha256"])):
        raise ManifestError(f"{path!r}: a file needs its sha256 (the digest it was condemned for)")
    if kind == "link" and not artifact.get("target"):
        raise ManifestError(f"{path!r}: a link needs its target (the one it was condemned for)")
    return parts


class _Refused(Exception):
    """One artifact is not removed: the reason says what changed."""


def _describe(what: dict) -> str:
    if what["type"] == "link":
        return f"a symlink to {what['target']}"
    return {"file": "a file", "directory": "a directory", "special": "a special file (FIFO, socket or device)"}[
        what["type"]
    ]


def _open_folder(root_fd: int, folders: list[str]) -> int | None:
    """An open descriptor of ``root/folders...``, not one component followed as a link; None when one is gone."""
    fd = os.dup(root_fd)
    for depth, name in enumerate(folders):
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            os.close(fd)
            return None
        except OSError as exc:
            try:
                now = _describe(identify(name, dir_fd=fd))
            except OSError:
                now = f"unreadable ({exc.strerror})"
            os.close(fd)
            raise _Refused(f"{'/'.join(folders[: depth + 1])} is no longer a directory: now {now}") from exc
        os.close(fd)
        fd = child
    return fd


def _changed(condemned: dict, now: dict) -> str:
    """Why ``now`` is not what ``condemned`` was; empty when it is the same."""
    if now["type"] != condemned["type"]:
        return f"was {_describe(condemned)}, now {_describe(now)}"
    if now["type"] == "file" and now["sha256"] != condemned["sha256"].lower():
        return f"changed since it was verified: sha256 {condemned['sha256'].lower()} then, {now['sha256']} now"
    if now["type"] == "link" and now["target"] != condemned["target"]:
        return f"changed since it was verified: a symlink to {condemned['target']} then, to {now['target']} now"
    return ""


def _remove_one(root_fd: int, parts: list[str], condemned: dict, check_mode: bool) -> bool:
    """Remove one artifact if it is still what it was condemned for: True removed, False already gone."""
    folder = _open_folder(root_fd, parts[:-1])
    if folder is None:
        return False
    try:
        try:
            now = identify(parts[-1], dir_fd=folder)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _Refused(f"changed while it was checked ({exc.strerror})") from exc
        reason = _changed(condemned, now)
        if reason:
            raise _Refused(reason)
        if not check_mode:
            try:
                os.unlink(parts[-1], dir_fd=folder)
            except FileNotFoundError:
                return False
        return True
    finally:
        os.close(folder)


def remove_confined(root: str, artifacts: list[dict], check_mode: bool = False) -> dict:
    """Remove condemned artifacts under ``root``, each only if it is still what it was condemned for.

    Every artifact is checked (``check_artifact``) before anything is removed; ManifestError names the first
    bad one, and OSError says the root cannot be opened as a directory (a symlink is refused). Returns
    ``removed`` (in check mode: would be removed), ``absent`` (already gone) and ``refused`` (path, reason).
    """
    checked = [(check_artifact(artifact), artifact) for artifact in artifacts]
    root_fd = os.open(root, _DIR_FLAGS)
    result: dict = {"removed": [], "absent": [], "refused": []}
    try:
        for parts, artifact in checked:
            try:
                gone = not _remove_one(root_fd, parts, artifact, check_mode)
            except _Refused as exc:
                result["refused"].append({"path": artifact["path"], "reason": str(exc)})
                continue
            result["absent" if gone else "removed"].append(artifact["path"])
    finally:
        os.close(root_fd)
    return result
