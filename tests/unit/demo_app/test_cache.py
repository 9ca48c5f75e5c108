"""The artifact cache: verification against the sha256 manifest, resync, and paths that must be refused."""

from __future__ import annotations

import os
from pathlib import Path

import demo_cache
import make_release
import pytest


@pytest.fixture
def cache(tmp_path):
    release = make_release.build(str(tmp_path / "releases"), "1.0.0", {}, artifacts=3)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "manifest.sha256").write_bytes((Path(release) / "manifest.sha256").read_bytes())
    restored, failed = demo_cache.resync(str(cache_dir), "manifest.sha256", os.path.join(release, "artifacts"))
    assert (len(restored), failed) == (3, [])
    return cache_dir, os.path.join(release, "artifacts")


def test_clean_cache_verifies(cache):
    cache_dir, _ = cache
    state = demo_cache.verify(str(cache_dir), "manifest.sha256")
    assert state == {
        "verified": ["artifact-01.bin", "artifact-02.bin", "artifact-03.bin"],
        "corrupted": [],
        "missing": [],
        "unexpected": [],
    }


def test_corrupted_missing_and_unexpected_artifacts_are_told_apart(cache):
    cache_dir, _ = cache
    (cache_dir / "artifact-01.bin").write_bytes(b"tampered")
    (cache_dir / "artifact-02.bin").unlink()
    (cache_dir / "stray.bin").write_bytes(b"?")
    state = demo_cache.verify(str(cache_dir), "manifest.sha256")
    assert state["corrupted"] == ["artifact-01.bin"]
    assert state["missing"] == ["artifact-02.bin"]
    assert state["unexpected"] == ["stray.bin"]
    assert state["verified"] == ["artifact-03.bin"]


def test_resync_restores_from_the_release_and_reports_what_it_cannot(cache):
    cache_dir, source = cache
    (cache_dir / "artifact-01.bin").write_bytes(b"tampered")
    restored, failed = demo_cache.resync(str(cache_dir), "manifest.sha256", source)
    assert (restored, failed) == (["artifact-01.bin"], [])
    (cache_dir / "artifact-02.bin").write_bytes(b"tampered")
    os.remove(os.path.join(source, "artifact-02.bin"))
    assert demo_cache.resync(str(cache_dir), "manifest.sha256", source) == ([], ["artifact-02.bin"])


@pytest.mark.parametrize("entry", ["../outside.bin", "/etc/passwd", "a/../../outside.bin", "link/escape.bin"])
def test_manifest_entries_outside_the_cache_are_refused(cache, entry, tmp_path):
    cache_dir, _ = cache
    os.symlink(tmp_path, cache_dir / "link")
    (cache_dir / "manifest.sha256").write_text(f"{'0' * 64}  {entry}\n")
    with pytest.raises(demo_cache.ManifestError, match=r"outside the cache|not a relative path"):
        demo_cache.verify(str(cache_dir), "manifest.sha256")


def test_malformed_manifest_line_is_refused(cache):
    cache_dir, _ = cache
    (cache_dir / "manifest.sha256").write_text("abc  artifact-01.bin\n")
    with pytest.raises(demo_cache.ManifestError, match="line 1: expected '<sha256>  <path>'"):
        demo_cache.read_manifest(str(cache_dir), "manifest.sha256")
