#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: git_deployment
short_description: Roll a deployment that is a git working tree back to a known-good commit
version_added: 0.2.0
description:
  - Seed 003's C(rollback_deployment.sh) as data, not a shell string. With O(state=rolled_back), C(git fetch) the
    remote (O(fetch)), resolve O(ref) to a commit (C(git check-ref-format), then
    C(git rev-parse --verify --end-of-options <ref>^{commit}), so a ref such as C(--upload-pack=...) is never read
    as an option), keep the evidence, C(git reset --hard) to the commit and C(git clean -fd) (C(-fdx) only with
    O(clean_ignored)).
  - Without O(ref) the target is the newest commit recorded good for O(unit) (by O(state=good), which the rollback
    role runs once a rolled-back service is proved healthy) that is not bad since and is not the one checked out.
  - Before anything changes, the replaced commit and a dirty tree are kept as evidence in
    C(<evidence_dir>/<time>-<commit>/) (C(head.txt), C(status.txt) with C(git status --porcelain), C(diff.patch)
    with C(git diff --binary HEAD)). The replaced commit is recorded bad for O(unit) in
    C(<state_dir>/<unit>.json) (a later rollback never returns to it) and kept by the ref
    C(refs/incident-remediation/bad/<commit>), so that no C(git gc) removes it.
  - Git runs without a shell, with C(safe.directory) set to O(repo) only (a tree owned by the service's account is
    refused by git as root otherwise), hooks and fsmonitor off.
  - Whoever can write the tree can write its C(.git/config), and git as root would run what it names (a
    C(filter.<name>.smudge) or C(.process) with the tree's C(.gitattributes), C(core.sshCommand),
    C(remote.<name>.uploadpack), C(credential.helper), C(diff.external)) or go where it says (C(include.path),
    C(includeIf), C(url.<base>.insteadOf), C(core.worktree)). So, before any git command acts and in check mode
    too, C(.git/config) and C(.git/config.worktree) are read by C(git config --file --no-includes) and the tree is
    refused (nothing changed) when a key is not one a clone or a deploy user writes (C(core.repositoryformatversion),
    C(core.filemode), C(core.bare), C(core.logallrefupdates), C(core.ignorecase), C(core.precomposeunicode),
    C(core.symlinks), C(core.autocrlf), C(core.eol), C(core.safecrlf), C(core.sharedRepository), C(core.checkStat),
    C(core.trustctime), C(core.quotePath), C(extensions.objectFormat), C(user.name), C(user.email), C(pull.rebase),
    C(pull.ff), C(fetch.prune), C(fetch.pruneTags), C(remote.<name>.url), C(.pushurl), C(.fetch), C(.tagOpt),
    C(.prune), C(.pruneTags), C(branch.<name>.remote), C(.merge), C(.rebase), C(.pushRemote)), or when C(.git) has a
    C(commondir). The message names the key and the file; remove the key, or review the tree first (someone may have
    planted it). The check runs again right before the fetch and the reset.
  - Every git command also runs without the system or global config or attributes (so a filter root's own
    C(~/.gitconfig) defines, git-lfs say, never runs on the tree's attributes; a Git LFS tree is not supported, use
    the command strategy), without credential helper or askpass, with C(core.sshCommand=ssh) (C(GIT_SSH_COMMAND)
    still applies), the transports https, http, ssh, git and file only (never C(ext::) or a remote helper),
    C(remote.<remote>.uploadpack=git-upload-pack), no auto gc; the evidence diff without external diff or textconv.
  - A commit already checked out on a clean tree is not changed (idempotent). In check mode it fetches nothing,
    writes nothing and reports what it would do.
  - With O(state=good) the checked-out commit is recorded good for O(unit) (a deploy pipeline may call it too).
author: incident.remediation contributors
attributes:
  check_mode:
    support: full
    description: Reports the reset it would make; fetches nothing, writes no evidence or record.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: full
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: full
options:
  repo:
    description: The top of the working tree the service runs from.
    type: path
    required: true
  unit:
    description: The service's systemd unit; names its record of good and bad commits.
    type: str
    required: true
  ref:
    description:
      - The known-good ref or commit (V(origin/deployment-stable), a tag, a SHA). Empty, the last good commit
        recorded.
    type: str
    default: ""
  state:
    description: V(rolled_back) resets the tree to the target; V(good) records the checked-out commit good.
    type: str
    choices: [rolled_back, good]
    default: rolled_back
  fetch:
    description: C(git fetch) O(remote) first (not in check mode). A fetch that fails is reported, the local ref used.
    type: bool
    default: true
  remote:
    description: The remote to fetch.
    type: str
    default: origin
  clean_ignored:
    description: Also remove ignored files (C(git clean -fdx)); they often hold the config backup, so off by default.
    type: bool
    default: false
  mark_bad:
    description: Record the replaced commit bad.
    type: bool
    default: true
  reason:
    description: Why, recorded with the bad commit.
    type: str
    default: rolled back
  state_dir:
    description: Where the records of good and bad commits are kept, one file per unit.
    type: path
    default: /var/lib/incident-remediation/rollback
  evidence_dir:
    description: Where the evidence is kept. Default C(<state_dir>/<unit>/evidence).
    type: path
"""

EXAMPLES = r"""
- name: Roll the working tree back to the stable branch, as rollback_deployment.sh did
  incident.remediation.git_deployment:
    repo: /home/genesis/genesis-rebuild
    unit: genesis-orchestration.service
    ref: origin/deployment-stable
    reason: "incident INC-20261123-0042"

- name: Record the commit deployed as good, once it is proved healthy
  incident.remediation.git_deployment:
    repo: /home/genesis/genesis-rebuild
    unit: genesis-orchestration.service
    state: good
"""

RETURN = r"""
previous:
  description: The commit checked out before.
  returned: always
  type: str
target:
  description: The commit checked out now (or that would be, in check mode).
  returned: always
  type: str
ref:
  description: The ref resolved (O(ref), or V(recorded good) when the target came from the record).
  returned: always
  type: str
dirty:
  description: C(git status --porcelain) of the tree before (empty when clean), at most 4096 bytes.
  returned: always
  type: str
marked_bad:
  description: The commit recorded bad by this run, if any.
  returned: always
  type: str
evidence:
  description: The evidence files written.
  returned: always
  type: list
  elements: str
fetch_error:
  description: Why the fetch failed, when it did (the target is then from the refs known locally).
  returned: always
  type: str
"""

import os
import shlex
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.deployments import (
    STATE_DIR,
    Records,
    capped,
    check_ref,
)

BAD_REF = "refs/incident-remediation/bad/"


# What the tree's own config may set: the keys a clone, a deploy user and line-ending settings write, none of which
# runs a program, reads another file or sends git elsewhere than the remote's url. <name> is any subsection.
CONFIG_ALLOWED = frozenset([
    "core.repositoryformatversion", "core.filemode", "core.bare", "core.logallrefupdates", "core.ignorecase",
    "core.precomposeunicode", "core.symlinks", "core.autocrlf", "core.eol", "core.safecrlf", "core.sharedrepository",
    "core.checkstat", "core.trustctime", "core.quotepath", "extensions.objectformat", "user.name", "user.email",
    "pull.rebase", "pull.ff", "fetch.prune", "fetch.prunetags", "remote.<name>.url", "remote.<name>.pushurl",
    "remote.<name>.fetch", "remote.<name>.tagopt", "remote.<name>.prune", "remote.<name>.prunetags",
    "branch.<name>.remote", "branch.<name>.merge", "branch.<name>.rebase", "branch.<name>.pushremote",
])  # fmt: skip
# The config files git reads in a working tree's .git (config.worktree only with extensions.worktreeconfig, which
# is not allowed; read anyway, so that nothing git could read is unread).
CONFIG_FILES = ("config", "config.worktree")
# Set for every git command, so that neither root's own git config nor one written into the tree between the check
# and the command runs a program: no system or global config or attributes, no credential helper or askpass, ssh as
# itself, the transports a remote may use (never ext::, fd:: or a remote helper), no auto gc as root in the tree.
HARDENING = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "core.attributesFile=/dev/null",
             "core.sshCommand=ssh", "core.askPass=", "credential.helper=", "gc.auto=0", "maintenance.auto=false",
             "protocol.allow=never", "protocol.https.allow=always", "protocol.http.allow=always",
             "protocol.ssh.allow=always", "protocol.git.allow=always", "protocol.file.allow=always")  # fmt: skip


class Git:
    """git in one working tree, without a shell; every failure raises RuntimeError naming the command.

    The tree's own config is checked first (check_config) and again before the fetch and the reset."""

    def __init__(self, module: AnsibleModule, repo: str) -> None:
        self.module, self.repo = module, repo
        self.binary = module.get_bin_path("git", required=True)
        self.env = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_ATTR_NOSYSTEM": "1",
                    "GIT_PROTOCOL_FROM_USER": "0"}  # fmt: skip
        self.check_config()

    def check_config(self) -> None:
        """Refuse a tree whose .git config sets a key outside CONFIG_ALLOWED (read by git itself, includes not
        followed: an include.path is a key like any other, and refused)."""
        gitdir = os.path.join(self.repo, ".git")
        if os.path.lexists(os.path.join(gitdir, "commondir")):
            raise ValueError(
                f"SECURITY: {gitdir}/commondir sends git to another repository's config and refs; a working tree's"
                " own .git has none: review the tree (whoever can write it may have planted it), then remove it"
            )
        for name in CONFIG_FILES:
            path = os.path.join(gitdir, name)
            if not os.path.lexists(path):
                continue
            rc, out, err = self.module.run_command(
                [self.binary, "config", "--file", path, "--no-includes", "--null", "--name-only", "--list"],
                environ_update={**self.env, "GIT_DIR": "/dev/null"}, cwd="/", encoding=None,
            )  # fmt: skip
            if rc != 0:
                why = " ".join(err.decode(errors="replace").split())[:300]
                raise ValueError(f"{path} cannot be read by git config ({rc}): {why}")
            for key in out.decode(errors="replace").split("\0"):
                if key and _config_pattern(key) not in CONFIG_ALLOWED:
                    shown = key[:120] if key[:120].isprintable() else repr(key[:120])
                    raise ValueError(
                        f"SECURITY: {path} sets {shown}, a key git could act on as root (run a program, read"
                        " another file or reach elsewhere) while it rolls the tree back; only keys a clone writes are"
                        f" accepted: remove it (git config --file {shlex.quote(path)} --unset-all {shlex.quote(key)})"
                        " or, if nobody here set it, review the tree first: whoever can write it may have planted it"
                    )

    def run(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        options = [item for option in HARDENING for item in ("-c", option)]
        argv = [self.binary, "-C", self.repo, "-c", f"safe.directory={self.repo}", *options, *args]
        rc, out, err = self.module.run_command(argv, environ_update=self.env, encoding=None)
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        if check and rc != 0:
            raise RuntimeError(f"git {' '.join(args)} in {self.repo} failed ({rc}): {' '.join(err.split())[:500]}")
        return rc, out, err

    def commit(self, ref: str) -> str:
        check_ref(ref)
        if self.run("check-ref-format", "--allow-onelevel", ref, check=False)[0] != 0 and not _is_hex(ref):
            raise ValueError(f"git ref {ref!r} is not a ref (git check-ref-format refuses it)")
        rc, out, _ = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
        if rc != 0:
            raise ValueError(f"git ref {ref!r} names no commit in {self.repo}")
        return out.strip()


def _config_pattern(key: str) -> str:
    """remote.Or.ig.url -> remote.<name>.url (git lower-cases the section and the key, not the subsection)."""
    section, _, rest = key.partition(".")
    middle, _, last = rest.rpartition(".")
    return f"{section}.<name>.{last}" if middle else key


def _is_hex(text: str) -> bool:
    return 4 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text.lower())


def keep_evidence(git: Git, folder: str, previous: str, dirty: str) -> list[str]:
    os.makedirs(folder, mode=0o700, exist_ok=False)
    files = {"head.txt": git.run("log", "-1", "--format=commit %H%nauthor %an <%ae>%ndate %cI%n%n%B", previous)[1]}
    if dirty:
        files["status.txt"] = git.run("status", "--porcelain=v1", "--untracked-files=all")[1]
        files["diff.patch"] = capped(
            git.run("diff", "--no-ext-diff", "--no-textconv", "--binary", "HEAD")[1], 16 * 1024 * 1024
        )
    kept = []
    for name, text in files.items():
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        kept.append(path)
    return kept


def roll_back(module: AnsibleModule, git: Git, records: Records, result: dict) -> None:
    params = module.params
    previous = git.commit("HEAD")
    result["previous"] = previous
    if params["fetch"] and params["ref"] and not module.check_mode:
        check_ref(params["remote"])
        git.check_config()
        rc, _, err = git.run(
            "-c",
            f"remote.{params['remote']}.uploadpack=git-upload-pack",
            "fetch",
            "--quiet",
            "--no-recurse-submodules",
            "--",
            params["remote"],
            check=False,
        )
        result["fetch_error"] = "" if rc == 0 else " ".join(err.split())[:500] or f"git fetch failed ({rc})"
    if params["ref"]:
        target, result["ref"] = git.commit(params["ref"]), params["ref"]
    else:
        recorded = records.last_good(besides=previous)
        if not recorded:
            raise ValueError(
                f"no good commit recorded for {params['unit']} in {records.path} other than the one checked out"
                f" ({previous[:12]}): name the known-good ref (rollback_git_ref, e.g. origin/deployment-stable)"
            )
        target, result["ref"] = git.commit(recorded), "recorded good"
    if target != previous and target in records.bad():
        raise ValueError(
            f"commit {target[:12]} ({result['ref']}) is recorded bad in {records.path}: not rolling back to it"
        )
    result["target"] = target
    status = git.run("status", "--porcelain=v1", "--untracked-files=all")[1]
    result["dirty"] = capped(status, 4096)
    result["changed"] = target != previous or bool(status)
    result["diff"] = {"before": f"HEAD {previous}{' (dirty)' if status else ''}\n", "after": f"HEAD {target}\n"}
    if not result["changed"] or module.check_mode:
        return
    folder = os.path.join(params["evidence_dir"], f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{previous[:12]}")
    result["evidence"] = keep_evidence(git, folder, previous, status)
    if target != previous and params["mark_bad"]:
        git.run("update-ref", BAD_REF + previous, previous)
        records.mark("bad", previous, reason=params["reason"], replaced_by=target, evidence=folder)
        result["marked_bad"] = previous
    git.check_config()
    git.run("reset", "--hard", "--quiet", target)
    git.run("clean", "-fdx" if params["clean_ignored"] else "-fd", "--quiet")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "repo": {"type": "path", "required": True},
            "unit": {"type": "str", "required": True},
            "ref": {"type": "str", "default": ""},
            "state": {"type": "str", "choices": ["rolled_back", "good"], "default": "rolled_back"},
            "fetch": {"type": "bool", "default": True},
            "remote": {"type": "str", "default": "origin"},
            "clean_ignored": {"type": "bool", "default": False},
            "mark_bad": {"type": "bool", "default": True},
            "reason": {"type": "str", "default": "rolled back"},
            "state_dir": {"type": "path", "default": STATE_DIR},
            "evidence_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "previous": "", "target": "", "ref": params["ref"], "dirty": "", "marked_bad": None,
              "evidence": [], "fetch_error": "", "invalid": False}  # fmt: skip
    repo = os.path.realpath(params["repo"])
    try:
        records = Records(params["state_dir"], params["unit"])
        params["evidence_dir"] = params["evidence_dir"] or os.path.join(params["state_dir"], params["unit"], "evidence")
        if not os.path.isdir(os.path.join(repo, ".git")):
            raise ValueError(f"{params['repo']} is not the top of a git working tree (no .git in it)")
        git = Git(module, repo)
        if params["state"] == "good":
            commit = git.commit("HEAD")
            newest = (records.read()["good"] or [{}])[-1].get("version")
            result.update(previous=commit, target=commit, ref="HEAD", changed=newest != commit)
            if result["changed"] and not module.check_mode:
                records.mark("good", commit, reason=params["reason"])
        else:
            roll_back(module, git, records, result)
    except ValueError as exc:  # the input, the record or the target: nothing changed
        module.fail_json(msg=f"{exc}: nothing changed", **{**result, "invalid": True})
    except (RuntimeError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
