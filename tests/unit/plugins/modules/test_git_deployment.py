"""git_deployment on a real git working tree: the target, the evidence, the bad record, hostile refs, check mode."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.incident.remediation.plugins.modules import git_deployment

UNIT = "demo-app.service"


def git(repo, *args) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(tmp_path):
    """origin with deployment-stable at the good commit; the clone deployed at a bad commit after it."""
    origin, tree = tmp_path / "origin", tmp_path / "tree"
    git(tmp_path, "init", "-q", "-b", "main", str(origin))
    (origin / "app.py").write_text("good\n")
    (origin / ".gitignore").write_text("config/backup/\n")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "good")
    git(origin, "branch", "deployment-stable")
    (origin / "app.py").write_text("bad\n")
    git(origin, "commit", "-q", "-am", "bad deploy")
    git(tmp_path, "clone", "-q", str(origin), str(tree))
    (tree / "config" / "backup").mkdir(parents=True)
    (tree / "config" / "backup" / "app.yaml").write_text("kept: true\n")
    return tree


def roll(run_module, tree, tmp_path, check_mode=False, **extra):
    args = {"repo": str(tree), "unit": UNIT, "state_dir": str(tmp_path / "state"), **extra}
    return run_module(git_deployment, args, check_mode=check_mode)


def test_resets_to_the_stable_ref_keeping_the_bad_commit_and_the_dirty_tree_as_evidence(repo, tmp_path, run_module):
    bad, good = git(repo, "rev-parse", "HEAD"), git(repo, "rev-parse", "origin/deployment-stable")
    (repo / "app.py").write_text("hotfix typed on the host\n")
    (repo / "stray.txt").write_text("untracked\n")
    failed, result = roll(run_module, repo, tmp_path, ref="origin/deployment-stable", reason="INC-1")
    assert not failed and result["changed"], result
    assert (result["previous"], result["target"], result["marked_bad"]) == (bad, good, bad)
    assert git(repo, "rev-parse", "HEAD") == good and git(repo, "status", "--porcelain") == ""
    assert (repo / "app.py").read_text() == "good\n" and not (repo / "stray.txt").exists()
    assert (repo / "config/backup/app.yaml").exists(), "git clean -fd, never -x: ignored files stay"
    kept = {os.path.basename(p): Path(p).read_text() for p in result["evidence"]}
    assert "hotfix typed on the host" in kept["diff.patch"] and "?? stray.txt" in kept["status.txt"], kept
    assert kept["head.txt"].startswith(f"commit {bad}") and "bad deploy" in kept["head.txt"]
    assert git(repo, "rev-parse", f"refs/incident-remediation/bad/{bad}") == bad, "no gc removes the bad commit"
    record = json.loads((tmp_path / "state" / f"{UNIT}.json").read_text())
    assert record["bad"][0]["version"] == bad and record["bad"][0]["reason"] == "INC-1"


def test_again_at_the_ref_on_a_clean_tree_is_unchanged(repo, tmp_path, run_module):
    roll(run_module, repo, tmp_path, ref="origin/deployment-stable")
    failed, result = roll(run_module, repo, tmp_path, ref="origin/deployment-stable")
    assert not failed and not result["changed"] and result["evidence"] == [], result


def test_check_mode_changes_nothing_and_writes_nothing(repo, tmp_path, run_module):
    before = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text("dirty\n")
    failed, result = roll(run_module, repo, tmp_path, check_mode=True, ref="origin/deployment-stable")
    assert not failed and result["changed"] and result["target"] != before, result
    assert "M app.py" in result["dirty"]
    assert git(repo, "rev-parse", "HEAD") == before and (repo / "app.py").read_text() == "dirty\n"
    assert not (tmp_path / "state").exists(), "no record, no evidence in check mode"
    assert subprocess.run(["git", "-C", str(repo), "show-ref", "--", "refs/incident-remediation"],
                          capture_output=True, check=False).returncode != 0  # fmt: skip


def test_without_a_ref_the_last_good_commit_recorded_is_the_target(repo, tmp_path, run_module):
    good = git(repo, "rev-parse", "origin/deployment-stable")
    failed, result = roll(run_module, repo, tmp_path)
    assert failed and result["invalid"] and "no good commit recorded" in result["msg"], result
    assert "nothing changed" in result["msg"]
    git(repo, "checkout", "-q", good)
    failed, result = roll(run_module, repo, tmp_path, state="good")
    assert not failed and result["changed"]
    git(repo, "checkout", "-q", "main")
    failed, result = roll(run_module, repo, tmp_path)
    assert not failed and (result["ref"], result["target"]) == ("recorded good", good), result


def test_a_ref_naming_a_commit_recorded_bad_is_refused(repo, tmp_path, run_module):
    bad = git(repo, "rev-parse", "HEAD")
    roll(run_module, repo, tmp_path, ref="origin/deployment-stable")
    failed, result = roll(run_module, repo, tmp_path, ref=bad)
    assert failed and result["invalid"] and "is recorded bad" in result["msg"], result


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/pwned", "-q", "main;touch /tmp/pwned", "main\nHEAD",
                                 "HEAD~1", "main..HEAD", "ré", "origin/no-such-branch"])  # fmt: skip
def test_a_hostile_or_unknown_ref_changes_nothing(repo, tmp_path, run_module, ref):
    before = git(repo, "rev-parse", "HEAD")
    failed, result = roll(run_module, repo, tmp_path, ref=ref, fetch=False)
    assert failed and result["invalid"] and "nothing changed" in result["msg"], result
    assert "is not a ref" in result["msg"] or "names no commit" in result["msg"], result["msg"]
    assert git(repo, "rev-parse", "HEAD") == before and not (tmp_path / "state").exists()
    assert not os.path.exists("/tmp/pwned")


def test_a_tree_owned_by_another_user_is_read_through_its_own_safe_directory(repo, tmp_path, run_module):
    """git as root refuses a repository the service's account owns ('dubious ownership'); the module trusts this
    one tree, never '*'."""
    for folder, dirs, files in os.walk(repo):
        for name in [folder, *(os.path.join(folder, entry) for entry in dirs + files)]:
            os.lchown(name, 65534, 65534)
    assert "dubious ownership" in subprocess.run(["git", "-C", str(repo), "status"], capture_output=True,
                                                 text=True, check=False).stderr  # fmt: skip
    failed, result = roll(run_module, repo, tmp_path, ref="origin/deployment-stable", fetch=False)
    assert not failed and result["changed"], result


def test_not_a_working_tree_is_refused(tmp_path, run_module):
    failed, result = roll(run_module, tmp_path, tmp_path, ref="main")
    assert failed and "is not the top of a git working tree" in result["msg"]


# The tree's own .git/config is written by whoever owns the tree (the service's account, or whoever owns the
# service); git as root must never run a program or reach elsewhere because of it.
EVIL = "#!/bin/sh\ntouch {marker}\n[ $# -eq 0 ] && exec cat\nexit 1\n"  # a smudge filter passes the file on


def planted(repo, tmp_path, **keys) -> Path:
    """A script that leaves tmp_path/pwned behind, and keys ("{evil}" for its path) set in the tree's .git/config."""
    evil = tmp_path / "evil.sh"
    evil.write_text(EVIL.format(marker=tmp_path / "pwned"))
    evil.chmod(0o755)
    for key, value in keys.items():
        git(repo, "config", "--file", str(repo / ".git" / "config"), key, value.format(evil=evil, tmp=tmp_path))
    return tmp_path / "pwned"


def filter_everywhere(repo):
    """* filter=evil in the tree's .gitattributes, committed and checked out, and in .git/info/attributes."""
    (repo / ".gitattributes").write_text("* filter=evil\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* filter=evil\n")


PLANTED = {
    "filter.evil.smudge": {"filter.evil.smudge": "{evil}"},
    "filter.evil.process": {"filter.evil.process": "{evil}"},
    "core.sshcommand": {"core.sshCommand": "{evil}", "remote.origin.url": "ssh://deploy.example.invalid/app.git"},
    "remote.origin.uploadpack": {"remote.origin.uploadpack": "{evil}"},
    "include.path": {"include.path": "{tmp}/included"},
    "includeif.gitdir:/.path": {"includeIf.gitdir:/.path": "{tmp}/included"},
    "credential.helper": {"credential.helper": "!{evil}"},
    "url.ext::sh -c touch% x.insteadof": {"url.ext::sh -c touch% x.insteadOf": "https://"},
    "core.worktree": {"core.worktree": "{tmp}"},
    "diff.external": {"diff.external": "{evil}"},
}


@pytest.mark.parametrize("key", list(PLANTED))
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "plan"])
def test_a_tree_whose_git_config_could_run_a_program_as_root_is_refused(repo, tmp_path, run_module, key, check_mode):
    filter_everywhere(repo)
    (repo / "app.py").write_text("dirty\n")
    (tmp_path / "included").write_text(f'[filter "evil"]\n\tsmudge = {tmp_path / "evil.sh"}\n')
    marker = planted(repo, tmp_path, **PLANTED[key])
    before = git(repo, "rev-parse", "HEAD")
    failed, result = roll(run_module, repo, tmp_path, check_mode=check_mode, ref="origin/deployment-stable")
    assert not marker.exists(), "git ran the tree's program as root"
    assert failed and result["invalid"], result
    config = str(repo / ".git" / "config")
    assert f"{config} sets {key}" in result["msg"] and "nothing changed" in result["msg"], result["msg"]
    assert "remove it" in result["msg"] and "planted" in result["msg"], result["msg"]
    assert git(repo, "rev-parse", "HEAD") == before and (repo / "app.py").read_text() == "dirty\n"
    assert not (tmp_path / "state").exists()


def test_the_commands_own_config_is_read_only_never_root_global_or_system(repo, tmp_path, run_module, monkeypatch):
    """A filter root's ~/.gitconfig defines (git-lfs, say) is not run on the tree's hostile attributes."""
    filter_everywhere(repo)
    marker = planted(repo, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[filter "evil"]\n\tsmudge = {tmp_path / "evil.sh"}\n')
    monkeypatch.setenv("HOME", str(home))
    failed, result = roll(run_module, repo, tmp_path, ref="origin/deployment-stable")
    assert not marker.exists(), "git ran root's global filter on the tree's attributes"
    assert not failed, result
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "origin/deployment-stable")


def test_a_git_dir_pointing_at_another_common_dir_is_refused(repo, tmp_path, run_module):
    (repo / ".git" / "commondir").write_text(str(tmp_path / "elsewhere") + "\n")
    failed, result = roll(run_module, repo, tmp_path, ref="origin/deployment-stable", fetch=False)
    assert failed and result["invalid"] and "commondir" in result["msg"], result


def test_the_config_of_an_ordinary_clone_and_a_deploy_user_is_accepted(repo, tmp_path, run_module):
    planted(repo, tmp_path, **{"user.name": "deploy", "user.email": "deploy@example.org", "core.autocrlf": "input",
                               "branch.main.rebase": "true", "remote.origin.prune": "true"})  # fmt: skip
    failed, result = roll(run_module, repo, tmp_path, ref="origin/deployment-stable")
    assert not failed and result["changed"] and result["fetch_error"] == "", result
