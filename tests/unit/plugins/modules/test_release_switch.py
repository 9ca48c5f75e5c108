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
