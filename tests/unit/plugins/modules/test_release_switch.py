"""release_switch: target choice, bad markers, atomic switch, refusals that change nothing, check mode."""

from __future__ import annotations

import json
import os

import pytest
from ansible_collections.incident.remediation.plugins.modules import release_switch


@pytest.fixture
def deployment(tmp_path):
    root = tmp_path / "app"
    for version in ("0.9.2", "1.0.0", "1.9.0", "1.10.0"):
        release = root / "releases" / version
        release.mkdir(parents=True)
        (release / "app.py").write_text(version)
        (release / "config.yml").write_text(f"v: {version}\n")
    os.symlink("releases/1.10.0", root / "current")
    return root


def current(root) -> str:
    return os.readlink(root / "current")


def snapshot(root) -> list:
    return sorted((str(p.relative_to(root)), p.is_symlink() and os.readlink(p)) for p in root.rglob("*"))


def switch(run_module, root, check_mode=False, **extra):
    return run_module(release_switch, {"root": str(root), **extra}, check_mode=check_mode)


def test_default_target_is_the_newest_older_good_release(deployment, run_module):
    failed, result = switch(run_module, deployment, reason="INC-7")
    assert not failed
    assert (result["previous"], result["target"], result["marked_bad"]) == ("1.10.0", "1.9.0", "1.10.0")
    assert current(deployment) == "releases/1.9.0"
    marker = json.loads((deployment / "releases/1.10.0/.incident-remediation-bad").read_text())
    assert (marker["reason"], marker["replaced_by"]) == ("INC-7", "1.9.0")
    assert (deployment / "releases/1.10.0/app.py").exists(), "the bad release stays as evidence"
    assert [r["version"] for r in result["releases"]] == ["0.9.2", "1.0.0", "1.9.0", "1.10.0"]


def test_next_rollback_skips_bad_releases(deployment, run_module):
    (deployment / "releases/1.0.0/.incident-remediation-bad").write_text("{}")
    switch(run_module, deployment)
    failed, result = switch(run_module, deployment)
    assert not failed and result["target"] == "0.9.2", "1.0.0 is bad, so 1.9.0 steps back to 0.9.2"


def test_named_target_is_idempotent(deployment, run_module):
    failed, result = switch(run_module, deployment, version="1.0.0")
    assert not failed and result["changed"] and current(deployment) == "releases/1.0.0"
    failed, result = switch(run_module, deployment, version="1.0.0")
    assert not failed and not result["changed"] and result["marked_bad"] is None


def test_check_mode_reports_and_changes_nothing(deployment, run_module):
    before = snapshot(deployment)
    failed, result = switch(run_module, deployment, check_mode=True)
    assert not failed and result["changed"] and result["target"] == "1.9.0"
    assert result["diff"] == {"before": "current -> releases/1.10.0\n", "after": "current -> releases/1.9.0\n"}
    assert snapshot(deployment) == before


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("oldest", {}, "no previous good release to roll back to: current 0.9.2"),
        (None, {"version": "2.0.0"}, "release 2.0.0 not found"),
        (None, {"version": "../../etc"}, "is not a release name"),
        ("bad-1.0.0", {"version": "1.0.0"}, "release 1.0.0 is marked bad"),
        (None, {"required_files": ["missing.txt"]}, "release 1.9.0 lacks missing.txt"),
        (None, {"required_files": ["../1.10.0/app.py"]}, "lacks ../1.10.0/app.py"),
        ("no-current", {}, "is not a symlink: no current release"),
        ("outside", {}, "not at a release in"),
    ],
)
def test_refusals_change_nothing(deployment, tmp_path, run_module, setup, extra, message):
    if setup == "oldest":
        os.remove(deployment / "current")
        os.symlink("releases/0.9.2", deployment / "current")
    elif setup == "bad-1.0.0":
        (deployment / "releases/1.0.0/.incident-remediation-bad").write_text("{}")
    elif setup == "no-current":
        os.remove(deployment / "current")
    elif setup == "outside":
        os.remove(deployment / "current")
        os.symlink(tmp_path, deployment / "current")
    before = snapshot(deployment)
    failed, result = switch(run_module, deployment, **extra)
    assert failed and message in result["msg"], result["msg"]
    assert snapshot(deployment) == before


def test_not_a_deployment(tmp_path, run_module):
    failed, result = switch(run_module, tmp_path / "nothing")
    assert failed and "not a deployment" in result["msg"]


def test_natural_version_order():
    names = ["1.10.0", "1.9.2", "1.2.0", "10.0", "2.0.0-rc1", "2.0.0"]
    assert sorted(names, key=release_switch.version_key) == ["1.2.0", "1.9.2", "1.10.0", "2.0.0", "2.0.0-rc1", "10.0"]


def test_switching_back_to_a_bad_release_needs_allow_bad_and_keeps_its_marker(deployment, run_module):
    switch(run_module, deployment, reason="INC-8")  # 1.10.0 -> 1.9.0, 1.10.0 marked bad
    failed, result = switch(run_module, deployment, version="1.10.0")
    assert failed and "release 1.10.0 is marked bad" in result["msg"] and current(deployment) == "releases/1.9.0"
    failed, result = switch(run_module, deployment, version="1.10.0", allow_bad=True, reason="1.9.0 broken too")
    assert not failed and (result["previous"], result["target"], result["marked_bad"]) == ("1.9.0", "1.10.0", "1.9.0")
    assert current(deployment) == "releases/1.10.0"
    assert json.loads((deployment / "releases/1.10.0/.incident-remediation-bad").read_text())["reason"] == "INC-8"
    assert {r["version"] for r in result["releases"] if r["bad"]} == {"1.9.0", "1.10.0"}


def test_a_dangling_current_is_the_bad_release_and_no_marker_is_written_for_it(deployment, run_module):
    """A deploy that died half way: current -> releases/2.0.0, which is not there (issue 21, item 4)."""
    os.remove(deployment / "current")
    os.symlink("releases/2.0.0", deployment / "current")
    failed, result = switch(run_module, deployment, reason="INC-9")
    assert not failed, result["msg"]
    assert (result["previous"], result["target"], result["marked_bad"]) == ("2.0.0", "1.10.0", None)
    assert result["previous_missing"] is True
    assert current(deployment) == "releases/1.10.0"
    assert not os.path.lexists(deployment / "releases/2.0.0"), "no directory is made for the missing release"
    assert not (deployment / "releases/1.10.0/.incident-remediation-bad").exists()
    assert result["diff"]["before"] == "current -> releases/2.0.0 (missing)\n"


def test_a_dangling_current_in_check_mode_changes_nothing(deployment, run_module):
    os.remove(deployment / "current")
    os.symlink("releases/2.0.0", deployment / "current")
    before = snapshot(deployment)
    failed, result = switch(run_module, deployment, check_mode=True)
    assert not failed and result["changed"] and result["target"] == "1.10.0" and result["previous_missing"]
    assert snapshot(deployment) == before


def test_a_present_current_is_not_missing(deployment, run_module):
    failed, result = switch(run_module, deployment)
    assert not failed and result["previous_missing"] is False


@pytest.mark.parametrize("planted", ["symlink", "dangling-symlink", "directory"])
def test_a_marker_that_is_not_a_plain_file_is_refused_and_never_followed(deployment, tmp_path, run_module, planted):
    """Someone planted a link named like the marker in the release rolled away from (issue 21, item 19)."""
    victim = tmp_path / "victim"
    victim.write_text("root:x:0:0\n")
    marker = deployment / "releases/1.10.0/.incident-remediation-bad"
    if planted == "symlink":
        os.symlink(victim, marker)
    elif planted == "dangling-symlink":
        os.symlink(tmp_path / "created-through-the-link", marker)
    else:
        marker.mkdir()
    before = snapshot(deployment)
    failed, result = switch(run_module, deployment, version="1.9.0")
    assert failed, "the marker must not be written through a planted link"
    assert "is not a plain file" in result["msg"] and str(marker) in result["msg"], result["msg"]
    assert victim.read_text() == "root:x:0:0\n"
    assert not (tmp_path / "created-through-the-link").exists()
    assert snapshot(deployment) == before, "refused before the switch: current is unchanged"


def test_the_marker_is_written_without_following_a_release_directory_swapped_for_a_link(deployment, tmp_path):
    """The release directory replaced by a link between the check and the write: the write is refused."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rename(deployment / "releases/1.10.0", tmp_path / "moved")
    os.symlink(elsewhere, deployment / "releases/1.10.0")
    with pytest.raises(OSError):
        release_switch.Deployment(str(deployment), ".incident-remediation-bad").mark_bad("1.10.0", {"reason": "x"})
    assert list(elsewhere.iterdir()) == []


def test_an_existing_marker_is_replaced_not_written_through(deployment, tmp_path):
    """A hard link planted as the marker: the marker is renamed into place, the linked file is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    marker = deployment / "releases/1.10.0/.incident-remediation-bad"
    os.link(victim, marker)
    release_switch.Deployment(str(deployment), ".incident-remediation-bad").mark_bad("1.10.0", {"reason": "x"})
    assert victim.read_text() == "secret\n"
    assert json.loads(marker.read_text()) == {"reason": "x"}
    assert os.stat(marker).st_mode & 0o777 == 0o644


def test_a_link_planted_while_the_marker_is_written_is_refused_and_nothing_is_left(deployment, tmp_path):
    """The check inside mark_bad (through the release directory's descriptor) catches a link planted after the
    module's first check: the link and its target are untouched and no temporary file is left."""
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    marker = deployment / "releases/1.10.0/.incident-remediation-bad"
    os.symlink(victim, marker)
    with pytest.raises(ValueError, match="is not a plain file but a symlink to"):
        release_switch.Deployment(str(deployment), ".incident-remediation-bad").mark_bad("1.10.0", {"reason": "x"})
    assert victim.read_text() == "secret\n" and os.readlink(marker) == str(victim)
    assert sorted(p.name for p in (deployment / "releases/1.10.0").iterdir()) == [
        ".incident-remediation-bad",
        "app.py",
        "config.yml",
    ]


@pytest.mark.parametrize("planted", ["file", "directory"])
def test_a_required_file_that_is_a_link_is_refused(deployment, tmp_path, run_module, planted):
    """The config backup planted as a link to /etc/shadow would be copied into the live config by the role."""
    secret = tmp_path / "etc"
    secret.mkdir()
    (secret / "shadow").write_text("root:$6$...\n")
    release = deployment / "releases/1.9.0"
    if planted == "file":
        os.remove(release / "config.yml")
        os.symlink(secret / "shadow", release / "config.yml")
        name = "config.yml"
    else:
        os.symlink(secret, release / "conf")
        name = "conf/shadow"
    before = snapshot(deployment)
    failed, result = switch(run_module, deployment, required_files=[name])
    assert failed and f"release 1.9.0 has {name} as a link" in result["msg"], result["msg"]
    assert snapshot(deployment) == before
