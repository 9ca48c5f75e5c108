# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sha256 manifests and the files they describe, confined to one root directory.

What the cache purge role trusts: every path that leaves here is inside the
root, symlinks resolved. A manifest with one entry that is absolute, has a
``..`` part, or resolves outside the root is refused whole.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re

from ansible_collections.incident.remediation.plugins.module_utils.errors import ManifestError

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}\Z")
_SUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
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
    return checked


def verify(root: str, manifest: dict, ignore: list[str] | tuple = ()) -> dict:
    """Compare the files under ``root`` with ``manifest``: ok, corrupted, missing, unexpected."""
    result = {"ok": [], "corrupted": [], "missing": [], "unexpected": []}
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
    return result
