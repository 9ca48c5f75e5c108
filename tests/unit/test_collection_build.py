"""The collection builds with ansible-galaxy and installs the way a user gets it."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_build_and_install(tmp_path):
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-collection")],
        env={**os.environ, "BUILD_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (tarball,) = tmp_path.glob("incident-remediation-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "README.md" in names and "LICENSE" in names and "meta/runtime.yml" in names
    leaked = [n for n in names if n.split("/")[0] in {"tests", ".venv", ".collections", "src", "scripts", ".cache"}]
    assert leaked == []
    assert not [n for n in names if "/molecule/" in f"/{n}"]

    installed = tmp_path / "installed" / "ansible_collections" / "incident" / "remediation"
    info = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("incident", "remediation", "0.2.0")
    assert info["license"] == ["GPL-3.0-or-later"]


def test_checkout_is_the_collection_in_the_configured_path():
    """ansible.cfg's collections path finds this checkout as incident.remediation."""
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-galaxy"), "collection", "list", "--format", "json"],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for path, collections in json.loads(result.stdout).items():
        for name in collections:
            found.setdefault(name, path)
    assert Path(found["incident.remediation"]).resolve() == (ROOT / ".collections" / "ansible_collections").resolve()
    for vendored in ("containers.podman", "ansible.posix", "community.general"):
        assert vendored in found
