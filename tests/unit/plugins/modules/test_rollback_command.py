"""rollback_command: the operator's script with the version as one argv element, its output kept, bounded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.incident.remediation.plugins.modules import rollback_command

UNIT = "demo-app.service"


@pytest.fixture
def script(tmp_path):
    """bin/rollback.sh VERSION: writes the version deployed, prints its arguments one per line."""
    path = tmp_path / "rollback.sh"
    path.write_text('#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\necho "$1" > "$(dirname "$0")/deployed"\n'
                    'echo "switching" >&2\n')  # fmt: skip
    path.chmod(0o755)
    (tmp_path / "deployed").write_text("v2.0.0\n")
    (tmp_path / "version.sh").write_text(f"#!/bin/sh\ncat {tmp_path / 'deployed'}\n")
    (tmp_path / "version.sh").chmod(0o755)
    return path


def run(run_module, tmp_path, script, check_mode=False, **extra):
    args = {"command": [str(script)], "unit": UNIT, "state_dir": str(tmp_path / "state"), **extra}
    return run_module(rollback_command, args, check_mode=check_mode)


def test_runs_the_script_with_the_version_keeps_its_output_and_records_the_one_replaced(tmp_path, script, run_module):
    failed, result = run(run_module, tmp_path, script, version="v1.2.3",
                         current_command=[str(tmp_path / "version.sh")])  # fmt: skip
    assert not failed and result["changed"] and result["exit_code"] == 0, result
    assert result["argv"] == [str(script), "v1.2.3"] and result["previous"] == "v2.0.0"
    assert (tmp_path / "deployed").read_text() == "v1.2.3\n"
    out, err = (Path(p).read_text() for p in result["evidence"])
    assert out == "arg:v1.2.3\n" and err == "switching\n", "one argv element, the output kept"
    record = json.loads((tmp_path / "state" / f"{UNIT}.json").read_text())
    assert record["bad"][0]["version"] == "v2.0.0" and result["marked_bad"] == "v2.0.0"
    failed, again = run(run_module, tmp_path, script, version="v1.2.3", current_command=[str(tmp_path / "version.sh")])
    assert not failed and not again["changed"] and again["exit_code"] is None, "already on it: not run again"


def test_check_mode_runs_nothing_and_writes_nothing(tmp_path, script, run_module):
    failed, result = run(run_module, tmp_path, script, check_mode=True, version="v1.2.3")
    assert not failed and result["changed"] and result["argv"][-1] == "v1.2.3" and result["exit_code"] is None
    assert "rc" not in result, "Ansible fails a task whose result has an rc that is not 0, None included"
    assert (tmp_path / "deployed").read_text() == "v2.0.0\n" and not (tmp_path / "state").exists()


def test_without_a_version_the_last_good_recorded_is_used_and_none_is_a_clear_failure(tmp_path, script, run_module):
    failed, result = run(run_module, tmp_path, script)
    assert failed and result["invalid"] and "no good version recorded" in result["msg"], result
    assert (tmp_path / "deployed").read_text() == "v2.0.0\n"
    assert not run(run_module, tmp_path, script, state="good", version="v1.9.0")[0]
    failed, result = run(run_module, tmp_path, script)
    assert not failed and result["argv"][-1] == "v1.9.0", result


@pytest.mark.parametrize("version", ["--help", ";rm -rf /", "v1\nv2", "v1 v2", "v\uff11.2", "$(touch /tmp/pwned)"])
def test_a_hostile_version_runs_nothing(tmp_path, script, run_module, version):
    failed, result = run(run_module, tmp_path, script, version=version)
    assert failed and result["invalid"] and "is not a version" in result["msg"], result
    assert (tmp_path / "deployed").read_text() == "v2.0.0\n" and not os.path.exists("/tmp/pwned")


def test_a_script_that_fails_or_hangs_fails_saying_so_with_its_output_kept(tmp_path, run_module):
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/bin/sh\necho 'compose: image not found' >&2\nexit 3\n")
    broken.chmod(0o755)
    failed, result = run(run_module, tmp_path, broken, version="v1")
    assert failed and "exited 3: compose: image not found" in result["msg"] and result["exit_code"] == 3, result
    assert Path(result["evidence"][1]).read_text() == "compose: image not found\n"
    hangs = tmp_path / "hangs.sh"
    hangs.write_text("#!/bin/sh\nsleep 60 &\nwait\n")
    hangs.chmod(0o755)
    failed, result = run(run_module, tmp_path, hangs, version="v1", timeout=1)
    assert failed and "ran out of its 1 s and was killed" in result["msg"], result


def test_output_is_capped(tmp_path, run_module):
    loud = tmp_path / "loud.sh"
    loud.write_text("#!/bin/sh\nhead -c 100000 /dev/zero | tr '\\0' x\necho END\n")
    loud.chmod(0o755)
    failed, result = run(run_module, tmp_path, loud, version="v1", output_cap=1000)
    assert not failed, result
    kept = Path(result["evidence"][0]).read_text()
    assert kept.startswith("[99004 bytes cut]") and kept.endswith("END\n") and len(result["stdout"]) < 5000


def test_a_second_rollback_never_goes_past_the_release_the_first_returned_to(tmp_path, script, run_module):
    # Seed 001: 0.9.0 and 1.0.0 were green deploys, 1.1.0 burns: rolled back to 1.0.0, proved, recorded good (as
    # the role does). A second alert on the same burn (the slow one, its own route) must not roll 1.0.0 back to
    # 0.9.0, past the last green deploy: refused, nothing run, 1.0.0 not recorded bad.
    current = [str(tmp_path / "version.sh")]
    for version in ("0.9.0", "1.0.0"):
        assert not run(run_module, tmp_path, script, state="good", version=version)[0]
    (tmp_path / "deployed").write_text("1.1.0\n")
    failed, first = run(run_module, tmp_path, script, current_command=current)
    assert not failed and first["argv"][-1] == "1.0.0" and first["marked_bad"] == "1.1.0", first
    assert not run(run_module, tmp_path, script, state="good", version="1.0.0", reason="proved healthy")[0]
    failed, second = run(run_module, tmp_path, script, current_command=current)
    assert failed and second["invalid"] and second["exit_code"] is None, second
    assert second["msg"] == (
        f"1.0.0 is the version the last rollback of {UNIT} returned to (from 1.1.0), the last green deploy: rolling"
        " back from it would go past it; name the version to return to (rollback_version) to go further: nothing"
        " run, nothing changed"
    )
    assert (tmp_path / "deployed").read_text() == "1.0.0\n"
    record = json.loads((tmp_path / "state" / f"{UNIT}.json").read_text())
    assert [e["version"] for e in record["good"]] == ["0.9.0", "1.0.0"] and [e["version"] for e in record["bad"]] == [
        "1.1.0"
    ]
    failed, named = run(run_module, tmp_path, script, current_command=current, version="0.9.0", check_mode=True)
    assert not failed and named["argv"][-1] == "0.9.0", "an operator naming the version still may"
    (tmp_path / "deployed").write_text("1.2.0\n")  # the next deploy burns: the last green is 1.0.0 again
    failed, later = run(run_module, tmp_path, script, current_command=current, check_mode=True)
    assert not failed and later["argv"][-1] == "1.0.0", later
