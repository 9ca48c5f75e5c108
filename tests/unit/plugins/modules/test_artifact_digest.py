"""artifact_digest: what it reports, the manifest formats, and every path it must refuse."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from ansible_collections.incident.remediation.plugins.modules import artifact_digest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / "cache"
    (root / "models").mkdir(parents=True)
    files = {"a.bin": b"alpha", "models/b.bin": b"bravo", "c.bin": b"charlie"}
    for name, data in files.items():
        (root / name).write_bytes(data)
    manifest = root / "manifest.sha256"
    manifest.write_text("".join(f"{sha(data)}  {name}\n" for name, data in files.items()))
    return root, manifest, files


def run(run_module, root, manifest, **extra):
    return run_module(artifact_digest, {"root": str(root), "manifest": str(manifest), **extra})


def test_clean_cache(cache, run_module):
    root, manifest, _ = cache
    failed, result = run(run_module, root, manifest)
    assert not failed
    assert result["clean"] is True and result["changed"] is False
    assert result["ok"] == ["a.bin", "c.bin", "models/b.bin"]
    assert result["summary"] == {"ok": 3, "corrupted": 0, "missing": 0, "unexpected": 0}


def test_corrupted_missing_unexpected(cache, run_module):
    root, manifest, files = cache
    (root / "a.bin").write_bytes(b"tampered")
    (root / "c.bin").unlink()
    (root / "models" / "stray.bin").write_bytes(b"?")
    os.symlink("/etc", root / "etc-link")
    failed, result = run(run_module, root, manifest)
    assert not failed
    assert result["corrupted"] == [{"path": "a.bin", "expected": sha(files["a.bin"]), "actual": sha(b"tampered")}]
    assert result["missing"] == ["c.bin"]
    assert result["unexpected"] == ["etc-link", "models/stray.bin"]
    assert result["clean"] is False


def test_fail_on_mismatch_names_the_files(cache, run_module):
    root, manifest, _ = cache
    (root / "a.bin").write_bytes(b"tampered")
    failed, result = run(run_module, root, manifest, fail_on_mismatch=True)
    assert failed
    assert "1 corrupted, 0 missing, 0 unexpected (a.bin)" in result["msg"]
    assert result["corrupted"][0]["path"] == "a.bin"


def test_ignore_patterns(cache, run_module):
    root, manifest, _ = cache
    (root / "tmp.partial").write_bytes(b"")
    assert run(run_module, root, manifest, ignore=["*.partial"])[1]["unexpected"] == []


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_json_and_yaml_manifests(cache, tmp_path, run_module, fmt):
    root, _, files = cache
    manifest = tmp_path / f"manifest.{fmt}"
    if fmt == "json":
        manifest.write_text(json.dumps({name: sha(data) for name, data in files.items()}))
    else:
        manifest.write_text("---\n# digests\n" + "".join(f'"{n}": {sha(d)}\n' for n, d in files.items()))
    failed, result = run(run_module, root, manifest)
    assert not failed, result
    assert len(result["ok"]) == 3
    assert result["unexpected"] == ["manifest.sha256"], "a manifest outside the root does not hide one inside"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("/etc/passwd", "absolute paths are refused"),
        ("../outside.bin", "'..' is refused"),
        ("models/../../outside.bin", "'..' is refused"),
        ("~root/.bashrc", "absolute paths are refused"),
        ("link/passwd", "outside"),
    ],
)
def test_entries_that_leave_the_root_are_refused(cache, tmp_path, run_module, entry, message):
    root, manifest, _ = cache
    os.symlink("/etc", root / "link")
    lines = manifest.read_text() + f"{sha(b'x')}  {entry}\n"
    manifest.write_text(lines)
    failed, result = run(run_module, root, manifest)
    assert failed
    assert result["msg"].startswith(f"refusing to verify {root}: entry {entry!r}")
    assert message in result["msg"]
    assert "ok" not in result, "nothing is verified from a manifest that is refused"


def test_symlinked_artifact_pointing_outside_is_refused(cache, tmp_path, run_module):
    root, manifest, _ = cache
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"alpha")
    (root / "a.bin").unlink()
    os.symlink(outside, root / "a.bin")
    failed, result = run(run_module, root, manifest)
    assert failed and "resolves to" in result["msg"] and "outside" in result["msg"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "must be an object"),
        ('{"a.bin": "xyz"}', "'xyz' is not a sha256 digest"),
        ("a.bin\n", "expected 'path: sha256'"),
        ("  nested: x\n", "expected a flat mapping"),
    ],
)
def test_malformed_manifests(cache, tmp_path, run_module, text, message):
    root, _, _ = cache
    manifest = tmp_path / "bad"
    manifest.write_text(text)
    failed, result = run(run_module, root, manifest)
    assert failed and message in result["msg"]


def test_missing_root_or_manifest(cache, tmp_path, run_module):
    root, manifest, _ = cache
    assert "is not a directory" in run(run_module, tmp_path / "nope", manifest)[1]["msg"]
    assert "cannot read manifest" in run(run_module, root, tmp_path / "nope")[1]["msg"]


def test_check_mode_verifies_the_same(cache, run_module):
    root, manifest, _ = cache
    failed, result = run_module(artifact_digest, {"root": str(root), "manifest": str(manifest)}, check_mode=True)
    assert not failed and result["clean"]


def test_condemned_names_what_is_there_now_without_following_links(cache, tmp_path, run_module):
    """What cache_remove will remove, each with what it was condemned for: checked again at removal."""
    root, manifest, _ = cache
    (root / "a.bin").write_bytes(b"tampered")
    (root / "models" / "stray.bin").write_bytes(b"planted")
    os.symlink("/etc", root / "etc-link")
    os.mkfifo(root / "pipe")  # hashed, a FIFO would hang the verification: it is only named
    failed, result = run(run_module, root, manifest)
    assert not failed
    assert result["condemned"] == [
        {"path": "a.bin", "type": "file", "sha256": sha(b"tampered")},
        {"path": "etc-link", "type": "link", "target": "/etc"},
        {"path": "models/stray.bin", "type": "file", "sha256": sha(b"planted")},
        {"path": "pipe", "type": "special"},
    ]
    assert result["unexpected"] == ["etc-link", "models/stray.bin", "pipe"]


def test_a_clean_cache_condemns_nothing(cache, run_module):
    root, manifest, _ = cache
    (root / "c.bin").unlink()
    result = run(run_module, root, manifest)[1]
    assert result["missing"] == ["c.bin"] and result["condemned"] == [], "a missing artifact is not removed"


def test_the_manifest_is_reported_by_the_sha256_of_the_bytes_it_was_read_from(cache, run_module):
    """What the cache purge compares with the manifest's own verification (manifest_trust), read in another task."""
    root, manifest, _ = cache
    failed, result = run(run_module, root, manifest)
    assert not failed and result["manifest_sha256"] == sha(manifest.read_bytes())
