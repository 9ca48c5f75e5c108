"""cache_remove: removes only what artifact_digest condemned, never through a link, never what changed since.

Each race is a real tree under tmp_path, changed the way a hostile service user would change it between the
verification (artifact_digest) and the removal (cache_remove): the swap is done before the removal is called.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.incident.remediation.plugins.module_utils import digest
from ansible_collections.incident.remediation.plugins.modules import artifact_digest, cache_remove

ROOT = Path(__file__).resolve().parents[4]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path):
    """A cache with one good, one corrupted artifact in a sub-folder, and a folder outside it."""
    root = tmp_path / "cache"
    (root / "models").mkdir(parents=True)
    good = {"a.bin": b"alpha", "models/b.bin": b"bravo"}
    (root / "a.bin").write_bytes(b"alpha")
    (root / "models" / "b.bin").write_bytes(b"corrupted")
    (root / "manifest.sha256").write_text("".join(f"{sha(data)}  {name}\n" for name, data in good.items()))
    outside = tmp_path / "outside"
    outside.mkdir()
    # the same name and the same bytes outside: a digest check alone would not tell them apart
    (outside / "b.bin").write_bytes(b"corrupted")
    return root, outside


def condemned(run_module, root: Path) -> list[dict]:
    failed, result = run_module(artifact_digest, {"root": str(root), "manifest": str(root / "manifest.sha256")})
    assert not failed, result
    return result["condemned"]


def remove(run_module, root: Path, artifacts: list[dict], check_mode: bool = False) -> tuple[bool, dict]:
    return run_module(cache_remove, {"root": str(root), "artifacts": artifacts}, check_mode=check_mode)


def test_a_folder_swapped_for_a_symlink_after_the_verification_removes_nothing_outside(cache, run_module):
    root, outside = cache
    artifacts = condemned(run_module, root)
    assert artifacts == [{"path": "models/b.bin", "type": "file", "sha256": sha(b"corrupted")}]
    # the race: between the check and the removal, models/ becomes a link out of the cache
    (root / "models").rename(root / "models.old")
    os.symlink(outside, root / "models")

    failed, result = remove(run_module, root, artifacts)

    assert (outside / "b.bin").read_bytes() == b"corrupted", "a file outside the cache was removed"
    assert os.readlink(root / "models") == str(outside), "the link itself is evidence and stays"
    assert failed
    assert result["removed"] == [] and result["changed"] is False
    assert result["refused"] == [
        {"path": "models/b.bin", "reason": f"models is no longer a directory: now a symlink to {outside}"}
    ]
    assert "refused to remove 1 of 1 artifacts" in result["msg"]
    assert f"models/b.bin: models is no longer a directory: now a symlink to {outside}" in result["msg"]


def test_the_swap_seen_by_the_remove_function_itself(cache, run_module):
    """The same race one level down: digest.remove_confined, the function the module calls."""
    root, outside = cache
    artifacts = condemned(run_module, root)
    (root / "models").rename(root / "models.old")
    os.symlink(outside, root / "models")
    done = digest.remove_confined(str(root), artifacts, check_mode=False)
    assert done["removed"] == [] and [r["path"] for r in done["refused"]] == ["models/b.bin"]
    assert (outside / "b.bin").exists()


def test_an_artifact_swapped_for_a_symlink_is_refused(cache, run_module):
    root, outside = cache
    artifacts = condemned(run_module, root)
    (root / "models" / "b.bin").unlink()
    os.symlink(outside / "b.bin", root / "models" / "b.bin")
    failed, result = remove(run_module, root, artifacts)
    assert failed and (outside / "b.bin").exists() and os.path.islink(root / "models" / "b.bin")
    assert result["refused"] == [
        {"path": "models/b.bin", "reason": f"was a file, now a symlink to {outside / 'b.bin'}"}
    ]


def test_an_artifact_that_changed_since_the_verification_is_kept(cache, run_module):
    root, _ = cache
    artifacts = condemned(run_module, root)
    (root / "models" / "b.bin").write_bytes(b"bravo")  # the service re-fetched it meanwhile
    failed, result = remove(run_module, root, artifacts)
    assert failed and (root / "models" / "b.bin").read_bytes() == b"bravo"
    assert result["refused"] == [
        {
            "path": "models/b.bin",
            "reason": f"changed since it was verified: sha256 {sha(b'corrupted')} then, {sha(b'bravo')} now",
        }
    ]


def test_a_folder_replaced_by_a_file_is_refused(cache, run_module):
    root, _ = cache
    artifacts = condemned(run_module, root)
    (root / "models").rename(root / "models.old")
    (root / "models").write_bytes(b"not a folder")
    failed, result = remove(run_module, root, artifacts)
    assert failed and result["refused"][0]["reason"] == "models is no longer a directory: now a file"
    assert (root / "models").read_bytes() == b"not a folder"


def test_removes_the_corrupted_and_unexpected_and_nothing_else(cache, tmp_path, run_module):
    root, outside = cache
    (root / "models" / "stray.bin").write_bytes(b"planted")
    os.symlink(outside, root / "escape")  # an unexpected link out of the cache: removed as a link
    os.mkfifo(root / "pipe")
    artifacts = condemned(run_module, root)
    assert {a["path"]: a["type"] for a in artifacts} == {
        "escape": "link",
        "models/b.bin": "file",
        "models/stray.bin": "file",
        "pipe": "special",
    }
    failed, result = remove(run_module, root, artifacts)
    assert not failed, result
    assert result["changed"] is True and result["refused"] == [] and result["absent"] == []
    assert result["removed"] == ["escape", "models/b.bin", "models/stray.bin", "pipe"]
    assert sorted(p.name for p in root.rglob("*")) == ["a.bin", "manifest.sha256", "models"]
    assert (outside / "b.bin").exists()
    # and again: nothing left to remove, nothing changed
    failed, again = remove(run_module, root, artifacts)
    assert not failed and again["changed"] is False and again["absent"] == result["removed"]


def test_check_mode_removes_nothing_and_reports_what_it_would(cache, run_module):
    root, _ = cache
    (root / "stray.bin").write_bytes(b"planted")
    artifacts = condemned(run_module, root)
    before = sorted((str(p), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))
    failed, result = remove(run_module, root, artifacts, check_mode=True)
    assert not failed and result["changed"] is True
    assert result["removed"] == ["models/b.bin", "stray.bin"]
    assert sorted((str(p), p.read_bytes() if p.is_file() else None) for p in root.rglob("*")) == before


def test_check_mode_reports_the_refusal_too(cache, run_module):
    root, outside = cache
    artifacts = condemned(run_module, root)
    (root / "models").rename(root / "models.old")
    os.symlink(outside, root / "models")
    failed, result = remove(run_module, root, artifacts, check_mode=True)
    assert failed and result["refused"][0]["path"] == "models/b.bin" and (outside / "b.bin").exists()


def test_an_artifact_already_gone_is_reported_not_refused(cache, run_module):
    root, _ = cache
    artifacts = condemned(run_module, root)
    (root / "models" / "b.bin").unlink()
    failed, result = remove(run_module, root, artifacts)
    assert not failed and result["absent"] == ["models/b.bin"] and result["changed"] is False


@pytest.mark.parametrize(
    ("artifact", "message"),
    [
        ({"path": "../outside/b.bin", "type": "file", "sha256": "0" * 64}, "'../outside/b.bin': not a plain relative"),
        ({"path": "/etc/passwd", "type": "file", "sha256": "0" * 64}, "'/etc/passwd': not a plain relative"),
        ({"path": "models/./b.bin", "type": "file", "sha256": "0" * 64}, "'models/./b.bin': not a plain relative"),
        ({"path": "models//b.bin", "type": "file", "sha256": "0" * 64}, "'models//b.bin': not a plain relative"),
        ({"path": "a.bin", "type": "file"}, "'a.bin': a file needs its sha256"),
        ({"path": "a.bin", "type": "file", "sha256": "xyz"}, "'a.bin': a file needs its sha256"),
        ({"path": "escape", "type": "link"}, "'escape': a link needs its target"),
    ],
)
def test_bad_artifacts_are_refused_before_anything_is_removed(cache, run_module, artifact, message):
    root, _ = cache
    artifacts = [*condemned(run_module, root), artifact]
    failed, result = remove(run_module, root, artifacts)
    assert failed and message in result["msg"] and "nothing removed" in result["msg"]
    assert (root / "models" / "b.bin").exists(), "the valid artifact listed first was not removed either"


def test_a_root_that_is_a_symlink_is_refused(cache, tmp_path, run_module):
    root, _ = cache
    artifacts = condemned(run_module, root)
    os.symlink(root, tmp_path / "link-to-cache")
    failed, result = remove(run_module, tmp_path / "link-to-cache", artifacts)
    assert failed and "cannot open the cache root" in result["msg"] and "nothing removed" in result["msg"]
    assert (root / "models" / "b.bin").exists()


def _documentation_checks():
    """The shared checks of tests/unit/plugins/test_documentation.py (ansible-doc, argument_spec, compare)."""
    spec = importlib.util.spec_from_file_location(
        "documentation_checks", ROOT / "tests/unit/plugins/test_documentation.py"
    )
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    return checks


def test_the_documentation_renders_and_matches_the_argument_spec():
    checks = _documentation_checks()
    doc = checks.ansible_doc("cache_remove")
    assert doc["doc"]["short_description"] and doc["examples"].strip()
    assert set(doc["return"]) == {"removed", "absent", "refused"}
    assert checks.compare("cache_remove", doc["doc"]["options"], checks.argument_spec("cache_remove")) == []
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections")}
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-doc"), "incident.remediation.cache_remove"],
        env=env, capture_output=True, text=True, check=False, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert "EXAMPLES:" in done.stdout and "RETURN VALUES:" in done.stdout
