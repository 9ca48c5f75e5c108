"""scripts/setup refuses clearly, and changes nothing further, when it cannot do its work."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup"


def fake_commands(tmp_path: Path, **scripts: str) -> dict[str, str]:
    """A PATH whose first folder holds the given commands; each also logs its call."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    for name, body in scripts.items():
        path = bindir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{body}\n')
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is needed to drop root")
def test_not_root_is_refused_before_anything_is_done():
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SETUP)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "scripts/setup must run as root" in result.stderr
    assert "==>" not in result.stdout, "no step may start"


def test_failed_package_install_stops_before_podman_and_the_venv(tmp_path):
    env = fake_commands(
        tmp_path,
        **{
            "dpkg-query": "exit 1",  # every package looks missing
            "apt-get": 'case "$*" in *install*) echo "E: Unable to locate package podman" >&2; exit 100;; esac',
            "podman": "exit 0",
        },
    )
    result = subprocess.run([str(SETUP)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "could not install Debian packages" in result.stderr
    assert "apt-get exited 100" in result.stderr
    assert "E: Unable to locate package podman" in result.stderr, "apt's own reason is shown"
    calls = (tmp_path / "calls.log").read_text()
    assert "apt-get install" in calls
    assert "podman info" not in calls, "podman must not be configured after a failed install"
    assert "creating .venv" not in result.stdout and "vendoring" not in result.stdout
    assert not os.path.exists("/usr/sbin/policy-rc.d") or Path("/usr/sbin/policy-rc.d").read_text() != (
        "#!/bin/sh\nexit 101\n"
    ), "the temporary policy-rc.d is removed"
