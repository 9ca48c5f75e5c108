"""unit_memory: the host's MemTotal, a unit's OOM kills from its cgroup (v1 and v2) and its journal's OOM lines.

``systemctl`` and ``journalctl`` are stand-ins on PATH (this machine runs no systemd); the cgroup files and
/proc/meminfo are files of the test. The real host is read by tests/integration/test_memory_limit_host.py.
"""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.modules import unit_memory

JOURNAL = """2026-12-01T19:40:00.100000+0000 host systemd[1]: Started demo-app.service.
2026-12-01T19:40:05.200000+0000 host systemd[1]: demo-app.service: Main process exited, code=killed, status=9/KILL
2026-12-01T19:40:05.3+0000 h systemd[1]: demo-app.service: A process of this unit has been killed by the OOM killer.
"""  # fmt: skip


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A unit in /system.slice/demo-app.service whose cgroup v1 memory controller counted 2 OOM kills."""
    (tmp_path / "meminfo").write_text("MemTotal:       24684084 kB\nMemFree:        1000 kB\n")
    v1 = tmp_path / "memory" / "system.slice" / "demo-app.service"
    v1.mkdir(parents=True)
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "systemctl").write_text(
        "#!/bin/sh\nprintf 'ControlGroup=/system.slice/demo-app.service\\nMainPID=42\\nNRestarts=3\\n'\n"
    )
    (tmp_path / "journal").write_text(JOURNAL)
    (bindir / "journalctl").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/journal-args\ncat {tmp_path}/journal\n')
    for tool in ("systemctl", "journalctl"):
        (bindir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setattr(unit_memory, "MEMINFO", str(tmp_path / "meminfo"))
    monkeypatch.setattr(unit_memory, "COUNTERS", (("v2", f"{tmp_path}/unified{{0}}/memory.events"),
                                                  ("v1", f"{tmp_path}/memory{{0}}/memory.oom_control")))  # fmt: skip
    return tmp_path


def test_memtotal_and_the_v1_counter_without_the_journal(host, run_module):
    failed, result = run_module(unit_memory, {"unit": "demo-app.service"}, check_mode=True)
    assert not failed and not result["changed"], result
    assert result["memtotal_bytes"] == 24684084 * 1024
    assert (result["cgroup_version"], result["oom_kills"]) == ("v1", 2)
    assert (result["main_pid"], result["n_restarts"], result["oom_journal"]) == (42, 3, [])
    assert not (host / "journal-args").exists(), "since=0 does not read the journal"


def test_v2_counter_first_and_the_oom_lines_of_the_journal_since(host, run_module):
    v2 = host / "unified" / "system.slice" / "demo-app.service"
    v2.mkdir(parents=True)
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
    failed, result = run_module(unit_memory, {"unit": "demo-app.service", "since": 1796153475.5})
    assert not failed, result
    assert (result["cgroup_version"], result["oom_kills"]) == ("v2", 1)
    assert [line.split(": ", 1)[1] for line in result["oom_journal"]] == [
        "demo-app.service: Main process exited, code=killed, status=9/KILL",
        "demo-app.service: A process of this unit has been killed by the OOM killer.",
    ]
    assert "--since @1796153475.500000" in (host / "journal-args").read_text()


def test_no_cgroup_no_counter(host, run_module, tmp_path):
    (tmp_path / "bin" / "systemctl").write_text("#!/bin/sh\nprintf 'ControlGroup=\\nMainPID=0\\nNRestarts=0\\n'\n")
    failed, result = run_module(unit_memory, {"unit": "demo-app.service"})
    assert not failed and result["oom_kills"] is None and result["cgroup_version"] == "", result


@pytest.mark.parametrize(("args", "message"), [
    ({"unit": "demo-app.service\nExecStart=/bin/sh"}, "is not a systemd unit name"),
    ({"unit": "demo-app.service", "since": -1}, "since must be seconds since the epoch"),
])  # fmt: skip
def test_bad_input_is_refused(host, run_module, args, message):
    failed, result = run_module(unit_memory, args)
    assert failed and message in result["msg"], result
