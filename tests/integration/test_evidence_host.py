"""The evidence the runbooks ask for, on a real systemd host (issue 23 item 3, the host side).

One podman host running the demo service at release 1.1.0 (1.0.0 beside it) and systemd-coredump (the test image
has it). The service's main process is really crashed with SIGSEGV, the kernel really writes its core file
(this machine's core_pattern is ``core``, kernel-global, never changed here), and the real systemd-coredump stores
it, so coredumpctl really has a core dump of demo-app.service. What stands in for the kernel is only the hand-off:
the kernel would pipe the core to systemd-coredump itself (core_pattern ``|/lib/systemd/systemd-coredump ...``); here
HANDOFF, a tracer (ptrace) on the main process, waits for its exit stop (after the kernel wrote the core, before the
process is gone, as when the kernel runs the pipe), then feeds the core file to /lib/systemd/systemd-coredump on
stdin with the arguments the kernel would pass (%P %u %g %s %t %c %h), and lets the process end. docs/testing.md.

Then: a check-mode read (the dump's coredumpctl info, nothing copied), and a rollback incident whose outcome has the
version before (1.1.0, the current link) and after (1.0.0), the journal of the last hour with its window said, the
core dump's info in logs.txt and its copy kept on the host, and the report showing them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hosts import PLAYBOOK, ROOT, PodmanHost, ansible_env, deploy, host_name, image_exists, playbook, write_inventory
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("evidence-host")
CORES = "/var/lib/evidence-cores"  # the demo's working directory: core_pattern "core" writes it here
KEPT = "/var/lib/incident-remediation/coredumps"
HANDOFF = r"""
import ctypes, os, socket, subprocess, sys, time
# Stand-in for the kernel's pipe to systemd-coredump (see the test's docstring): trace PID to its exit stop,
# which comes after the kernel wrote its core file and before the process is gone, and hand the core over.
PTRACE_CONT, PTRACE_SEIZE, PTRACE_O_TRACEEXIT, PTRACE_EVENT_EXIT, WALL = 7, 0x4206, 0x40, 6, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid, core = int(sys.argv[1]), sys.argv[2]
if libc.ptrace(PTRACE_SEIZE, pid, None, PTRACE_O_TRACEEXIT) != 0:
    sys.exit(f"ptrace seize {pid}: {os.strerror(ctypes.get_errno())}")
print("seized", flush=True)
signal_number = 0
while True:
    _, status = os.waitpid(pid, WALL)
    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
        sys.exit("the process ended before its exit stop")
    if status >> 8 == (5 | (PTRACE_EVENT_EXIT << 8)):
        break
    signal_number = os.WSTOPSIG(status)  # the crash's signal: delivered, so the kernel dumps the core
    libc.ptrace(PTRACE_CONT, pid, None, signal_number)
with open(f"/proc/{pid}/status") as handle:
    ids = {line.split(":")[0]: line.split()[1] for line in handle if line.startswith(("Uid", "Gid"))}
# %P %u %g %s %t %c %h: pid, uid, gid, signal, time, the soft RLIMIT_CORE (unlimited, as the kernel prints it), host
argv = ["/lib/systemd/systemd-coredump", str(pid), ids["Uid"], ids["Gid"], str(signal_number), str(int(time.time())),
        "18446744073709551615", socket.gethostname()]
with open(core, "rb") as stdin:
    handed = subprocess.run(argv, stdin=stdin).returncode
os.unlink(core)
libc.ptrace(PTRACE_CONT, pid, None, 0)
print("handed", handed, flush=True)
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("evidence")
    server = PodmanHost(HOST, free_port())
    try:
        server.start()
        inventory = write_inventory(work / "inventory", [HOST], {"version_source": "symlink"})
        deploy(inventory, HOST, {"demo_app_releases": [{"version": "1.0.0"}, {"version": "1.1.0"}]})
        crash_with_a_core_dump(server)
        yield {"host": server, "inventory": inventory, "work": work}
    finally:
        server.stop()


def crash_with_a_core_dump(server: PodmanHost) -> None:
    server.sh(
        f"mkdir -p {CORES} && chown demo-app: {CORES} && mkdir -p /etc/systemd/system/demo-app.service.d && "
        f"printf '[Service]\\nRestart=no\\nLimitCORE=infinity\\nWorkingDirectory={CORES}\\n' "
        "> /etc/systemd/system/demo-app.service.d/evidence-core.conf && systemctl daemon-reload && "
        "systemctl restart demo-app.service"
    )
    server.sh(f"cat > /usr/local/bin/evidence-handoff <<'EOF'\n{HANDOFF}EOF")
    pid = server.unit("MainPID")["MainPID"]
    server.sh(f"nohup python3 /usr/local/bin/evidence-handoff {pid} {CORES}/core > /run/evidence-handoff.log 2>&1 &")
    deadline = time.monotonic() + 10
    while "seized" not in server.sh("cat /run/evidence-handoff.log", check=False).stdout:
        assert time.monotonic() < deadline, server.sh("cat /run/evidence-handoff.log", check=False).stdout
        time.sleep(0.1)
    server.sh(f"kill -SEGV {pid}")  # the crash: a real SIGSEGV, the kernel dumps the core
    while "handed 0" not in server.sh("cat /run/evidence-handoff.log", check=False).stdout:
        assert time.monotonic() < deadline + 20, server.sh("cat /run/evidence-handoff.log", check=False).stdout
        time.sleep(0.2)
    assert server.unit("Result")["Result"] == "core-dump", "systemd saw the kernel dump the main process's core"


def module(stack, args: dict, *flags: str) -> dict:
    done = subprocess.run(
        [PLAYBOOK.replace("ansible-playbook", "ansible"), "-i", str(stack["inventory"]), HOST, "-m",
         "incident.remediation.unit_evidence", "-a", json.dumps(args), "-o", *flags],
        env=ansible_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert " => " in done.stdout, done.stdout + done.stderr
    return json.loads(done.stdout.split(" => ", 1)[1])


def test_a_check_mode_read_gives_the_core_dumps_info_and_writes_nothing(host):
    read = module(host, {"unit": "demo-app.service", "journal_since": 3600, "journal_lines": 50,
                         "version": {"source": "symlink", "path": "/opt/demo-app"}, "coredump_since": 3600,
                         "coredump_dir": f"{KEPT}/CHECK"}, "--check")  # fmt: skip
    assert read["version"]["version"] == "1.1.0" and not read["changed"], read["version"]
    dumps = read["coredumps"]["dumps"]
    assert len(dumps) == 1 and dumps[0]["signal"] == 11, read["coredumps"]
    assert "Unit: demo-app.service" in dumps[0]["info"] and "(present)" in dumps[0]["info"]
    assert "Stack trace of thread" in dumps[0]["info"], "libdw in the image: the backtrace is in the info"
    assert dumps[0]["kept"].startswith(f"check mode: would copy {dumps[0]['storage']} ")
    assert host["host"].sh(f"test -e {KEPT}", check=False).returncode == 1, "nothing written on the host"
    assert read["journal_window"]["seconds"] == 3600 and read["journal_window"]["since"]
    assert "demo-app" in read["logs"]["journal"] and len(read["logs"]["journal"].splitlines()) <= 51


def test_the_incident_records_the_version_before_and_after_the_journal_window_and_the_core_dump(host):
    server, name = host["host"], "INC-EVIDENCE-1"
    incidents = host["work"] / name
    done = playbook(host["inventory"], "incident.remediation.rollback", "--limit", HOST, "-e", "service=demo-app",
                    "-e", f"incident_id={name}", "-e", f"incident_evidence_dir={incidents}",
                    INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    folder = incidents / name
    events = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert done.returncode == 0 and outcome["status"] == "resolved", (outcome, done.stdout[-4000:])
    assert outcome["version"] == {"source": "symlink /opt/demo-app/current", "before": "1.1.0", "after": "1.0.0",
                                  "changed": True}, outcome["version"]  # fmt: skip

    dumps = outcome["diagnosis"]["coredumps"]
    assert dumps.startswith("1 core dump(s) of demo-app.service in the last 3600 s; pid ") and " signal 11: " in dumps
    kept = dumps.split("kept on the host at ", 1)[1]
    assert kept.startswith(f"{KEPT}/{name}/core.python3"), dumps
    logs = (folder / HOST / "diagnose" / "logs.txt").read_text()
    assert "==== journalctl --unit demo-app.service --since 20" in logs and "(the last 3600 s, at most 1000 " in logs
    assert "==== coredumpctl info: 1 core dump(s) of demo-app.service" in logs and "Stack trace of thread" in logs
    digest = server.sh(f"sha256sum {kept}").stdout.split()[0]
    assert f"(sha256 {digest})" in logs, "the copy on the host is the one the evidence names"
    stored = json.loads((folder / HOST / "diagnose" / "diagnosis.json").read_text())["coredumps"]["dumps"][0]
    assert digest == stored["sha256"] and stored["storage"].startswith("/var/lib/systemd/coredump/core.python3")

    report = (folder / "report.md").read_text()
    assert "- Version: 1.1.0 -> 1.0.0 (symlink /opt/demo-app/current)" in report, report
    assert "- Core dumps: 1 core dump(s) of demo-app.service" in report


def test_a_restart_incident_of_a_service_naming_no_version_source_costs_nothing_more(host):
    """docs/benchmarks: a restart incident runs 15 tasks and reaches the host twice; the evidence adds no task."""
    sys.path.insert(0, str(ROOT / "bench"))
    from benchlib import timeline_tasks  # noqa: PLC0415

    server, name = host["host"], "INC-EVIDENCE-2"
    plain = write_inventory(host["work"] / "plain", [HOST], {})  # the demo as inventories/test describes it
    server.crash()
    incidents = host["work"] / name
    done = playbook(plain, "incident.remediation.restart", "--limit", HOST, "-e", "service=demo-app",
                    "-e", f"incident_id={name}", "-e", f"incident_evidence_dir={incidents}",
                    INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    tasks = timeline_tasks(incidents / name / "timeline.jsonl")
    assert tasks["run"] == 15 and tasks["reached_host"] == 2, tasks
    outcome = next(json.loads(line)["data"] for line in (incidents / name / "timeline.jsonl").read_text().splitlines()
                   if json.loads(line)["event"] == "outcome")  # fmt: skip
    assert outcome["status"] == "resolved" and "version" not in outcome
    assert (
        "journalctl --unit demo-app.service --since " in (incidents / name / HOST / "diagnose" / "logs.txt").read_text()
    )
