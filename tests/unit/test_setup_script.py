"""scripts/setup refuses clearly, and changes nothing further, when it cannot do its work."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup"


def _others_can_enter(folder: Path) -> bool:
    """Every folder from / down to this one is searchable by any user (mode o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (folder, *folder.parents))


@pytest.fixture
def setup_copy_others_can_run() -> Iterator[Path]:
    """scripts/ copied where uid 65534 can read and run it, wherever this checkout is.

    A checkout under a folder of mode 0700 (/root, ``mktemp -d``) cannot be entered by
    another user at all, so its own scripts/setup would fail with 126 before it runs.
    """
    bases = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
    base = next((b for b in bases if b.is_dir() and _others_can_enter(b.resolve())), None)
    if base is None:  # pragma: no cover - no Linux machine lacks all four
        pytest.fail(f"no folder others can enter to copy scripts/setup into (tried {', '.join(map(str, bases))})")
    top = Path(tempfile.mkdtemp(prefix="setup-as-nobody-", dir=base))
    try:
        top.chmod(0o755)
        shutil.copytree(SETUP.parent, top / "scripts")  # setup and everything it sources (lib.sh)
        for path in (top / "scripts", *(top / "scripts").iterdir()):  # whatever the checkout's umask was
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
        yield top / "scripts" / SETUP.name
    finally:
        shutil.rmtree(top)


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
def test_not_root_is_refused_before_anything_is_done(setup_copy_others_can_run: Path):
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(setup_copy_others_can_run)],
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
