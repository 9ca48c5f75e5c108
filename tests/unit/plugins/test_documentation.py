"""Every plugin's documentation renders with ansible-doc and says exactly what its argument_spec does."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# every module the collection ships, held to its documentation without being listed here; a module
# run by an action plugin of its name (save_evidence) has its argument spec there, not in an AnsibleModule
MODULES = sorted(
    p.stem
    for p in (ROOT / "plugins/modules").glob("*.py")
    if not p.name.startswith("_") and not (ROOT / "plugins/action" / p.name).exists()
)
# the modules done by an action plugin of their name: their documentation must render too (mitigation_result's
# did not, a ': ' in a plain description item, and nothing said so)
ACTION_MODULES = sorted(p.stem for p in (ROOT / "plugins/action").glob("*.py") if not p.name.startswith("_"))
FILTERS = ["memory_max", "set_paths", "incident_plan", "incident_id", "redact_userinfo"]


def ansible_doc(name: str, kind: str = "module") -> dict:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-doc"), "-t", kind, "--json", f"incident.remediation.{name}"],
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return json.loads(done.stdout)[f"incident.remediation.{name}"]


class Captured(Exception):
    def __init__(self, kwargs):
        self.kwargs = kwargs


def argument_spec(name: str) -> dict:
    module = importlib.import_module(f"ansible_collections.incident.remediation.plugins.modules.{name}")

    def capture(**kwargs):
        raise Captured(kwargs)

    original = module.AnsibleModule
    module.AnsibleModule = capture
    try:
        module.main()
    except Captured as captured:
        return captured.kwargs["argument_spec"]
    finally:
        module.AnsibleModule = original
    raise AssertionError(f"{name}.main() built no AnsibleModule")


def compare(where: str, documented: dict, spec: dict) -> list[str]:
    problems = []
    if set(documented) != set(spec):
        problems.append(f"{where}: documented {sorted(documented)} but argument_spec has {sorted(spec)}")
    for option in set(documented) & set(spec):
        doc, arg = documented[option], spec[option]
        for key, default in (("type", "str"), ("default", None), ("choices", None), ("required", False),
                             ("elements", None), ("no_log", False)):  # fmt: skip
            doc_value = doc.get(key, default)
            if key == "no_log":
                doc_value = "Never logged" in " ".join(doc.get("description", []))
            if doc_value != arg.get(key, default):
                problems.append(f"{where}.{option}: {key} documented {doc_value!r}, argument_spec {arg.get(key)!r}")
        if "options" in arg or "suboptions" in doc:
            problems += compare(f"{where}.{option}", doc.get("suboptions", {}), arg.get("options", {}))
    return problems


@pytest.mark.parametrize("name", MODULES)
def test_module_documentation_matches_argument_spec(name):
    doc = ansible_doc(name)
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip() and doc["return"], "EXAMPLES and RETURN are written"
    assert compare(name, doc["doc"]["options"], argument_spec(name)) == []


@pytest.mark.parametrize("name", ACTION_MODULES)
def test_action_module_documentation_renders(name):
    doc = ansible_doc(name)
    assert doc["doc"]["short_description"] and doc["doc"]["options"], name
    texts = [*doc["doc"]["description"], *(t for o in doc["doc"]["options"].values() for t in o["description"])]
    assert all(isinstance(text, str) for text in texts), [t for t in texts if not isinstance(t, str)]
    assert "Runs on the controller whatever the host; no C(delegate_to) is needed." in doc["doc"]["notes"], name


@pytest.mark.parametrize("name", FILTERS)
def test_filter_documentation_renders(name):
    doc = ansible_doc(name, kind="filter")
    assert doc["doc"]["options"]["_input"]["required"] is True
    assert doc["examples"].strip() and doc["return"]


def test_callback_documentation_renders():
    doc = ansible_doc("incident_timeline", kind="callback")
    assert set(doc["doc"]["options"]) == {"dir", "result_chars"}
    assert doc["doc"]["options"]["dir"]["env"] == [{"name": "INCIDENT_TIMELINE_DIR"}]
