"""unit_evidence: collectors that fail are reported, never fatal; health and quarantine as read.

The real unit on a real systemd host is read by tests/integration/test_incident_flow.py and the
molecule scenarios; here the machine has no running systemd, which is the failing-collector case.
"""

from __future__ import annotations

import json
import threading
import time

from ansible_collections.incident.remediation.plugins.modules import unit_evidence


def read(run_module, tmp_path, **args):
    return run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path), **args})


def test_a_host_without_systemd_is_evidence_not_a_failure(run_module, tmp_path):
    failed, result = read(run_module, tmp_path)
    assert not failed and not result["changed"]
    assert result["exists"] is False and result["healthy"] is False
    assert set(result["logs"]) == {"journal", "status", "dmesg"}
    assert result["errors"], "what could not be read is said"
    assert result["quarantine"] is None


def test_health_is_judged_like_http_health(run_module, tmp_path, httpserver):
    httpserver.expect_request("/health").respond_with_json({"status": "starting"}, status=503)
    failed, result = read(run_module, tmp_path, logs=False, health_url=httpserver.url_for("/health"),
                          health_expect={"status": "ready"})  # fmt: skip
    assert not failed and result["logs"] == {}
    assert result["health"]["healthy"] is False and result["health"]["json"] == {"status": "starting"}
    assert "HTTP 503" in result["health"]["error"] and 'status = "starting"' in result["health"]["error"]


def test_a_quarantine_file_is_returned(run_module, tmp_path):
    marker = {"unit": "demo-app.service", "incident": "INC-1", "since": "2026-11-23T22:00:00", "reason": "tamper"}
    (tmp_path / "demo-app.service.json").write_text(json.dumps(marker))
    _, result = read(run_module, tmp_path, logs=False)
    assert result["quarantine"] == marker


def test_a_quarantine_file_that_is_not_json_still_quarantines(run_module, tmp_path):
    (tmp_path / "demo-app.service.json").write_text("stopped by hand, ask Kim")
    _, result = read(run_module, tmp_path, logs=False)
    assert "stopped by hand, ask Kim" in result["quarantine"]["reason"]


def test_a_unit_name_that_is_not_one_is_refused(run_module, tmp_path):
    failed, result = read(run_module, tmp_path, unit="demo; rm -rf /")
    assert failed and "is not a systemd unit name" in result["msg"]


def test_a_quarantine_file_that_is_not_utf8_still_quarantines(run_module, tmp_path):
    (tmp_path / "demo-app.service.json").write_bytes(b"stopped by \xff\xfe hand")
    failed, result = read(run_module, tmp_path, logs=False)
    assert not failed
    assert "stopped by" in result["quarantine"]["reason"] and "hand" in result["quarantine"]["reason"]


def test_a_health_answer_cut_short_is_evidence_not_a_crash(run_module, tmp_path, short_answer):
    failed, result = read(run_module, tmp_path, logs=False, health_url=short_answer, health_expect={"status": "ready"})
    assert not failed
    assert result["health"]["healthy"] is False and "incomplete answer" in result["health"]["error"]
    assert result["quarantine"] is None


def _plant(folder, owner: str, expires_in: float) -> dict:
    now = time.time()
    held = {
        "unit": "demo-app.service",
        "owner": owner,
        "holder": "rollback from ctl2",
        "acquired": now - 5,
        "acquired_at": "2026-12-01T09:00:00Z",
        "expires": now + expires_in,
        "expires_at": "2026-12-01T10:00:00Z",
    }
    folder.mkdir(exist_ok=True)
    (folder / "demo-app.service.lease").write_text(json.dumps(held))
    return held


def test_the_lease_is_taken_then_the_host_read_in_the_same_run(run_module, tmp_path):
    locks = tmp_path / "locks"
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "holder": "restart from ctl1",
                                                                   "dir": str(locks), "wait": 0})  # fmt: skip
    assert not failed and result["changed"] and result["lease"]["acquired"], result
    assert result["lease"]["message"].startswith("lease taken by incident INC-1 until ")
    written = json.loads((locks / "demo-app.service.lease").read_text())
    assert written["owner"] == "INC-1" and written["holder"] == "restart from ctl1"
    assert "exists" in result and "quarantine" in result, "the host is read as without a lease"


def test_a_lease_held_past_the_wait_is_said_and_the_host_still_read(run_module, tmp_path):
    locks = tmp_path / "locks"
    held = _plant(locks, "INC-OTHER", expires_in=600)
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "dir": str(locks), "wait": 0.2})
    assert not failed, "a lease held elsewhere does not fail the read: the caller refuses to act"
    lease = result["lease"]
    assert lease["acquired"] is False and lease["waited_for"]["owner"] == "INC-OTHER", lease
    assert lease["msg"].startswith("refused: demo-app.service on this host is locked by incident INC-OTHER")
    assert json.loads((locks / "demo-app.service.lease").read_text()) == held, "the other's lease is untouched"
    assert not result["changed"]


def test_the_host_is_read_after_waiting_for_another_runs_lease(run_module, tmp_path):
    locks = tmp_path / "locks"
    _plant(locks, "INC-OTHER", expires_in=600)
    marker = tmp_path / "demo-app.service.json"

    def the_other_run_ends():  # it quarantines the unit, then releases its lease
        time.sleep(0.6)
        marker.write_text(json.dumps({"unit": "demo-app.service", "incident": "INC-OTHER", "reason": "tamper"}))
        (locks / "demo-app.service.lease").unlink()

    other = threading.Thread(target=the_other_run_ends)
    other.start()
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "dir": str(locks), "wait": 30})
    other.join()
    assert not failed and result["lease"]["acquired"] and result["lease"]["waited_for"]["owner"] == "INC-OTHER"
    assert result["quarantine"]["incident"] == "INC-OTHER", "the read saw what the waited-for run left"


def test_check_mode_takes_no_lease_and_creates_no_folder(run_module, tmp_path):
    locks = tmp_path / "locks"
    failed, result = run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path),
                                                "logs": False, "lease": {"owner": "INC-1", "dir": str(locks)}},
                                check_mode=True)  # fmt: skip
    assert not failed and result["lease"]["acquired"], "it would be taken"
    assert not locks.exists()


def test_a_lease_owner_that_is_not_an_incident_id_is_refused(run_module, tmp_path):
    failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "a b", "dir": str(tmp_path / "locks")})
    assert failed and "lease: owner 'a b' must be an incident id" in result["msg"], result
    assert not (tmp_path / "locks").exists()


# --- health by command (issue 23 item 2; seed 003's scripts/health_check.sh) ---------------------------------


def _executable(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_the_health_command_is_the_health_and_its_output_evidence(run_module, tmp_path):
    check = _executable(tmp_path / "health_check.sh", 'echo "all 12 checks passed"; exit 0\n')
    failed, result = read(run_module, tmp_path, logs=False, health_command=[check, "--quick"])
    assert not failed
    assert result["health"]["healthy"] is True and result["health"]["status"] == 0
    assert result["health"]["stdout"] == "all 12 checks passed\n" and result["health"]["command"] == [check, "--quick"]
    assert result["healthy"] is False, "the unit is not active here (no systemd): healthy needs both"


def test_a_health_command_that_fails_is_evidence_not_a_failure(run_module, tmp_path):
    check = _executable(tmp_path / "health_check.sh", 'echo "db: down" >&2; exit 2\n')
    failed, result = read(run_module, tmp_path, logs=False, health_command=[check])
    assert not failed
    assert result["health"]["healthy"] is False and result["health"]["status"] == 2
    assert result["health"]["error"] == f"{check} exited 2: db: down"


def test_url_and_command_both_judged(run_module, tmp_path, httpserver):
    httpserver.expect_request("/health").respond_with_json({"status": "ready", "dashboard_link": "disconnected"})
    check = _executable(tmp_path / "health_check.sh", "echo smoke failed; exit 1\n")
    failed, result = read(run_module, tmp_path, logs=False, health_url=httpserver.url_for("/health"),
                          health_expect={"status": "ready", "dashboard_link": "connected"},
                          health_command=[check])  # fmt: skip
    assert not failed and result["health"]["healthy"] is False
    assert result["health"]["json"]["dashboard_link"] == "disconnected" and result["health"]["command"]["status"] == 1
    assert result["health"]["error"] == (
        f'dashboard_link = "disconnected" (expected "connected"); {check} exited 1: smoke failed'
    )


def test_the_health_command_runs_in_check_mode_being_a_read(run_module, tmp_path):
    check = _executable(tmp_path / "health_check.sh", "echo read only; exit 0\n")
    failed, result = run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path),
                                                "logs": False, "health_command": [check]}, check_mode=True)  # fmt: skip
    assert not failed and result["health"]["stdout"] == "read only\n"


def test_a_bad_health_command_is_refused_and_no_lease_taken(run_module, tmp_path):
    locks = tmp_path / "locks"
    for args, words in (({"health_command": ["./health_check.sh"]}, "must be an absolute path or a bare name"),
                        ({"health_command": ["/bin/true"], "health_command_timeout": -1}, "above 0"),
                        ({"health_command": []}, None)):  # fmt: skip
        failed, result = read(run_module, tmp_path, logs=False, lease={"owner": "INC-1", "dir": str(locks), "wait": 0},
                              **args)  # fmt: skip
        if words is None:
            assert not failed and result["health"] == {}, "no command, no health asked"
            (locks / "demo-app.service.lease").unlink()
            continue
        assert failed and words in result["msg"] and result["msg"].endswith(": nothing read"), result
        assert not (locks / "demo-app.service.lease").exists()


# --- the evidence the runbooks ask for (issue 23 item 3): the journal over a window, the version, core dumps ---


def _on_path(monkeypatch, tmp_path, name: str, body: str) -> None:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    _executable(folder / name, body)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")


def test_the_journal_is_read_over_a_window_and_capped_in_bytes(run_module, tmp_path, monkeypatch):
    _on_path(monkeypatch, tmp_path, "journalctl", 'echo "args: $*"; i=0; while [ $i -lt 300 ]; do '
             'echo "line $i of a noisy unit"; i=$((i+1)); done\n')  # fmt: skip
    before = int(time.time())
    failed, result = read(run_module, tmp_path, journal_since=3600, journal_lines=500, journal_bytes=2000)
    assert not failed, result
    journal, window = result["logs"]["journal"], result["journal_window"]
    assert journal.startswith("[") and "bytes cut]" in journal.splitlines()[0], journal[:200]
    assert journal.endswith("line 299 of a noisy unit\n") and len(journal.encode()) < 2100
    assert window["seconds"] == 3600 and window["lines"] == 500 and window["bytes"] == 2000 and window["since"]
    _, whole = read(run_module, tmp_path, journal_since=3600, journal_lines=500, journal_bytes=0)
    said = whole["logs"]["journal"].splitlines()[0]
    since = int(said.split("--since @")[1].split()[0])
    assert said.startswith("args: --unit demo-app.service --since @") and "--lines 500" in said
    assert before - 3600 - 2 <= since <= int(time.time()) - 3600


def test_without_a_window_the_journal_is_the_last_lines_as_before(run_module, tmp_path, monkeypatch):
    _on_path(monkeypatch, tmp_path, "journalctl", 'echo "args: $*"\n')
    _, result = read(run_module, tmp_path, journal_lines=50)
    assert result["logs"]["journal"] == "args: --unit demo-app.service --lines 50 --no-pager\n"
    assert result["journal_window"]["since"] == ""


def _releases(tmp_path, version: str):
    root = tmp_path / "app"
    (root / "releases" / version).mkdir(parents=True)
    (root / "current").symlink_to(f"releases/{version}")
    return root


def test_the_version_is_the_release_the_current_link_names(run_module, tmp_path):
    root = _releases(tmp_path, "1.4.0-rc.1")
    failed, result = read(run_module, tmp_path, logs=False, version={"source": "symlink", "path": str(root)})
    assert not failed and result["version"] == {"source": "symlink", "from": f"{root}/current",
                                                "version": "1.4.0-rc.1", "error": ""}  # fmt: skip


def test_a_version_that_is_not_one_is_said_not_kept(run_module, tmp_path):
    root = _releases(tmp_path, "1.0 $(id)")
    failed, result = read(run_module, tmp_path, logs=False, version={"source": "symlink", "path": str(root)})
    assert not failed and result["version"]["version"] == ""
    assert "is not a version" in result["version"]["error"] and "'1.0 $(id)'" in result["version"]["error"]
    (root / "current").unlink()
    _, result = read(run_module, tmp_path, logs=False, version={"source": "symlink", "path": str(root)})
    assert result["version"]["error"] == f"{root}/current is not a readable link: No such file or directory"


def _git(tree, *args: str) -> str:
    import subprocess  # noqa: PLC0415

    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin", "HOME": str(tree)}
    return subprocess.run(["git", "-C", str(tree), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def test_the_version_of_a_git_tree_is_its_commit_read_without_running_git(run_module, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    _git(tree, "init", "-q", "-b", "main")
    (tree / "app.py").write_text("print('v1')\n")
    _git(tree, "add", "app.py")
    _git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    commit = _git(tree, "rev-parse", "HEAD")
    marker = tmp_path / "ran"
    hook = _executable(tmp_path / "fsmonitor.sh", f"touch {marker}\n")
    _git(tree, "config", "core.fsmonitor", hook)  # what git as root would run in this tree
    failed, result = read(run_module, tmp_path, logs=False, version={"source": "git", "path": str(tree)})
    assert not failed and result["version"]["version"] == commit and result["version"]["error"] == "", result
    _git(tree, "pack-refs", "--all")
    assert not (tree / ".git" / "refs" / "heads" / "main").exists()
    _, packed = read(run_module, tmp_path, logs=False, version={"source": "git", "path": str(tree)})
    assert packed["version"]["version"] == commit
    assert not marker.exists(), "nothing of the tree's own config ran"


def test_the_version_from_the_services_version_url(run_module, tmp_path, httpserver):
    httpserver.expect_request("/api/system/version").respond_with_json({"build": {"version": "v2.3.1"}})
    url = httpserver.url_for("/api/system/version")
    failed, result = read(run_module, tmp_path, logs=False, version={"source": "url", "url": url,
                                                                     "field": "build.version"})  # fmt: skip
    assert not failed and result["version"]["version"] == "v2.3.1", result
    _, missing = read(run_module, tmp_path, logs=False, version={"source": "url", "url": url})
    assert missing["version"] == {"source": "url", "from": url, "version": "",
                                  "error": f"{url}: the answer has no field version"}  # fmt: skip


def test_the_version_from_the_services_command(run_module, tmp_path):
    script = _executable(tmp_path / "version.sh", "echo v0.9.9; echo ignored\n")
    failed, result = read(run_module, tmp_path, logs=False, version={"source": "command", "command": [script]})
    assert not failed and result["version"]["version"] == "v0.9.9"


def test_a_version_source_that_is_not_one_is_refused_before_anything_is_read(run_module, tmp_path):
    locks = tmp_path / "locks"
    for spec, words in (({"source": "symlink", "path": "app"}, "version.path must be the deployment root"),
                        ({"source": "url", "url": "file:///etc/passwd"}, "version.url must be an http(s) URL"),
                        ({"source": "command", "command": ["./v.sh"]}, "version.command's program")):  # fmt: skip
        failed, result = read(run_module, tmp_path, logs=False, version=spec,
                              lease={"owner": "INC-1", "dir": str(locks), "wait": 0})  # fmt: skip
        assert failed and words in result["msg"] and result["msg"].endswith(": nothing read"), result
        assert not locks.exists()


CORE_INFO = """           PID: 4242 (python3)
        Signal: 11 (SEGV)
          Unit: demo-app.service
       Storage: {storage} (present)
       Message: Process 4242 (python3) of user 999 dumped core.
"""


def _coredumps(monkeypatch, tmp_path, size: int = 3000):
    storage = tmp_path / "coredump" / "core.python3.999.b00t.4242.1796166547000000.zst"
    storage.parent.mkdir()
    storage.write_bytes(b"\x28\xb5\x2f\xfd" + b"z" * (size - 4))
    listed = json.dumps([{"time": 1796166547864716, "pid": 4242, "uid": 999, "gid": 999, "sig": 11,
                          "corefile": "present", "exe": "/usr/bin/python3.11", "size": size}])  # fmt: skip
    (tmp_path / "info.txt").write_text(CORE_INFO.format(storage=storage))
    _on_path(
        monkeypatch,
        tmp_path,
        "coredumpctl",
        f"""echo "$*" >> {tmp_path}/coredumpctl.args
case "$*" in *" list "*) echo '{listed}' ;; *" info "*) cat {tmp_path}/info.txt ;; esac
""",
    )
    return storage


def test_the_units_core_dumps_of_the_window_info_and_the_dump_kept_on_the_host(run_module, tmp_path, monkeypatch):
    import hashlib  # noqa: PLC0415

    storage = _coredumps(monkeypatch, tmp_path)
    keep = tmp_path / "kept" / "INC-1"
    failed, result = read(run_module, tmp_path, logs=False, coredump_since=3600, coredump_dir=str(keep),
                          coredump_max_size=4096)  # fmt: skip
    assert not failed, result
    dump = result["coredumps"]["dumps"][0]
    assert dump["pid"] == "4242" and dump["signal"] == 11 and "dumped core" in dump["info"]
    assert dump["storage"] == str(storage) and dump["kept"] == str(keep / storage.name)
    assert dump["sha256"] == hashlib.sha256(storage.read_bytes()).hexdigest() == hashlib.sha256(
        (keep / storage.name).read_bytes()).hexdigest()  # fmt: skip
    assert result["changed"], "a copy was written on the host"
    args = (tmp_path / "coredumpctl.args").read_text().splitlines()
    assert "COREDUMP_UNIT=demo-app.service" in args[0] and "--since @" in args[0]


def test_a_core_dump_over_the_cap_is_left_where_it_is(run_module, tmp_path, monkeypatch):
    storage = _coredumps(monkeypatch, tmp_path, size=5000)
    keep = tmp_path / "kept"
    _, result = read(run_module, tmp_path, logs=False, coredump_since=3600, coredump_dir=str(keep),
                     coredump_max_size=4096)  # fmt: skip
    dump = result["coredumps"]["dumps"][0]
    assert dump["kept"] == f"not kept: 5000 bytes is over the cap of 4096; still at {storage} until vacuumed"
    assert not keep.exists() and not result["changed"] and "dumped core" in dump["info"]


def test_check_mode_reads_the_core_dumps_and_writes_nothing(run_module, tmp_path, monkeypatch):
    _coredumps(monkeypatch, tmp_path)
    keep = tmp_path / "kept"
    failed, result = run_module(unit_evidence, {"unit": "demo-app.service", "quarantine_dir": str(tmp_path),
                                                "logs": False, "coredump_since": 3600, "coredump_dir": str(keep)},
                                check_mode=True)  # fmt: skip
    assert not failed and result["coredumps"]["dumps"][0]["kept"].startswith("check mode: would copy ")
    assert not keep.exists() and not result["changed"]


def test_no_core_dump_and_no_coredumpctl_are_said(run_module, tmp_path, monkeypatch):
    _on_path(monkeypatch, tmp_path, "coredumpctl", "echo 'No coredumps found.' >&2; exit 1\n")
    _, result = read(run_module, tmp_path, logs=False, coredump_since=600)
    assert result["coredumps"] == {"dumps": [], "note": "no core dump of demo-app.service in the last 600 s"}
    (tmp_path / "bin" / "coredumpctl").unlink()
    _, result = read(run_module, tmp_path, logs=False, coredump_since=600)
    assert result["coredumps"]["note"] == "coredumpctl is not installed on this host (package systemd-coredump)"
    _, result = read(run_module, tmp_path, logs=False)
    assert result["coredumps"] == {} and result["version"] == {}, "not asked, not read"
