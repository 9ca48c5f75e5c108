"""The execution environment AWX would run, built from execution-environment.yml here and checked inside.

scripts/build-ee builds it with ansible-builder and podman on a debootstrapped base of our own (no registry
image), or reuses the image whose inputs (execution-environment.yml, scripts/build-ee, constraints.txt, the
collection's MANIFEST.json) have the same hash. Inside it: every playbook of the collection passes
--syntax-check, ansible-doc lists every module, filter, test and callback under plugins/, and ansible-runner
runs a playbook of the collection the way AWX runs a job (ansible-runner in the image).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hosts import host_name

ROOT = Path(__file__).resolve().parents[2]
VERSION = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
COLLECTION = "/usr/share/ansible/collections/ansible_collections/incident/remediation"

pytestmark = [pytest.mark.podman]


def plugins(kind: str, suffix: str = ".py") -> set[str]:
    """The FQCNs of the plugins of a kind in this checkout: one file each (a .py, or a .yml doc for a test)."""
    return {f"incident.remediation.{path.stem}" for path in (ROOT / "plugins" / kind).glob(f"*{suffix}")
            if path.stem != "__init__"}  # fmt: skip


@pytest.fixture(scope="module")
def image() -> str:
    assert shutil.which("podman"), "podman is needed: run scripts/setup"
    # a second checkout on this machine (REMEDIATION_HOST_PREFIX) builds its own image, never retags this one's
    env = {**os.environ, "EE_IMAGE": f"localhost/{host_name('incident-remediation-ee')}:{VERSION}"}
    built = subprocess.run([str(ROOT / "scripts" / "build-ee")], capture_output=True, text=True, timeout=1200,
                           check=False, env=env)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def container(image):
    """One container of the image for every check of this file (its own entrypoint and user, as AWX runs it)."""
    name = host_name("ee-check")
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)
    subprocess.run(["podman", "run", "-d", "--name", name, image, "sleep", "infinity"], capture_output=True,
                   check=True)  # fmt: skip
    yield name
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)


def inside(container: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", "exec", container, "bash", "-c", command], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert not check or done.returncode == 0, f"{command}: rc {done.returncode}\n{done.stdout[-3000:]}{done.stderr}"
    return done


def test_the_image_holds_the_collection_of_galaxy_yml_s_version(image, container):
    labels = json.loads(subprocess.run(["podman", "image", "inspect", "--format", "{{json .Labels}}", image],
                                       capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert labels["io.incident-remediation.collection"] == f"incident.remediation:{VERSION}"
    assert image.endswith(f":{VERSION}")
    manifest = json.loads(inside(container, f"cat {COLLECTION}/MANIFEST.json").stdout)
    assert manifest["collection_info"]["version"] == VERSION
    assert inside(container, "ansible-runner --version").stdout.strip(), "ansible-runner is in the image"


def test_every_playbook_of_the_collection_passes_syntax_check_inside(container):
    names = sorted(path.stem for path in (ROOT / "playbooks").glob("*.yml"))
    assert "remediate" in names
    fqcns = " ".join(f"incident.remediation.{name}" for name in names)
    checked = inside(container, f"cd /tmp && ansible-playbook -i localhost, --syntax-check {fqcns}")
    assert [line.split("/")[-1] for line in checked.stdout.splitlines() if line.startswith("playbook:")] == [
        f"{name}.yml" for name in names
    ], checked.stdout


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("module", plugins("modules")), ("filter", plugins("filter")), ("test", plugins("test", ".yml")),
     ("callback", plugins("callback"))],
)  # fmt: skip
def test_ansible_doc_lists_every_plugin_of_the_checkout_inside(container, kind, expected):
    listed = json.loads(inside(container, f"ansible-doc -t {kind} -l incident.remediation --json").stdout)
    assert set(listed) == expected
    assert all(listed.values()), "each has its short description"


def test_ansible_runner_runs_a_playbook_of_the_collection_inside(container):
    """AWX runs a job as ansible-runner in the image: a private data dir, a project playbook using the
    collection's filters, the image's own callback setting (incident_timeline enabled)."""
    project = [{"name": "The collection in the execution environment", "hosts": "all", "gather_facts": False,
                "tasks": [{"name": "Size a MemoryMax", "ansible.builtin.debug": {
                    "msg": "MemoryMax={{ 200 | incident.remediation.memory_max }}"}}]}]  # fmt: skip
    script = (
        "set -e; d=$(mktemp -d); mkdir -p $d/project $d/inventory; "
        f"printf '%s' {shlex.quote(yaml.safe_dump(project))} > $d/project/check.yml; "
        "printf 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\\n'"
        " > $d/inventory/hosts; "
        "ansible-runner run $d -p check.yml >/dev/null; "
        "cat $d/artifacts/*/status; echo; cat $d/artifacts/*/rc; echo; cat $d/artifacts/*/stdout"
    )
    done = inside(container, script, check=False)
    status, rc, *output = done.stdout.splitlines()
    assert (status, rc) == ("successful", "0"), done.stdout[-3000:] + done.stderr[-3000:]
    assert "MemoryMax=12G" in "\n".join(output)
    env = inside(container, "printenv ANSIBLE_CALLBACKS_ENABLED").stdout.strip()
    assert env == "incident.remediation.incident_timeline", "the job ran with the timeline callback enabled"
