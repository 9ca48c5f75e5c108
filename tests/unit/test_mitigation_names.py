"""Every list of mitigation names is held to the one source, plugins/module_utils/mitigations.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import MITIGATIONS, OPTIONS

from incident_remediation import cli

ROOT = Path(__file__).resolve().parents[2]
NAMES = set(MITIGATIONS)


def test_each_mitigation_is_a_role_a_playbook_and_an_incident_mapping():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists()} - {"incident"}
    playbooks = {p.stem for p in (ROOT / "playbooks").glob("*.yml")} - {"remediate"}
    mappings = {p.stem for p in (ROOT / "roles/incident/tasks/mitigations").glob("*.yml")}
    assert roles == NAMES and playbooks == NAMES and mappings == NAMES


def test_the_front_end_and_the_incident_role_offer_exactly_these():
    assert set(cli.MITIGATIONS) == NAMES
    spec = yaml.safe_load((ROOT / "roles/incident/meta/argument_specs.yml").read_text())
    choices = spec["argument_specs"]["main"]["options"]["incident_mitigation"]["choices"]
    assert set(choices) - {""} == NAMES


def test_each_per_mitigation_playbook_passes_only_options_of_its_mitigation():
    for name, options in MITIGATIONS.items():
        (play,) = yaml.safe_load((ROOT / "playbooks" / f"{name}.yml").read_text())
        assert play["vars"]["mitigation"] == name
        given = play["vars"].get("options") or {}
        # a template building the options names each of them as a quoted key
        keys = set(re.findall(r"'(\w+)':", given)) if isinstance(given, str) else set(given)
        assert keys and keys <= options, name


def mitigation_tables() -> dict[str, set[str]]:
    """Each test file's MITIGATIONS table (mitigation -> its arguments), by file name."""
    tables = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = getattr(node, "targets", [])
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MITIGATIONS" for t in targets):
                tables[path.name] = {key.value for key in node.value.keys}
    return tables


def test_the_tests_that_run_every_mitigation_run_all_of_them_and_no_other():
    tables = mitigation_tables()
    assert tables["test_check_mode.py"] == NAMES and tables["test_unit_lock.py"] == NAMES
    for name, keys in tables.items():
        assert keys <= NAMES, f"{name} names mitigations that do not exist: {sorted(keys - NAMES)}"


def test_the_per_mitigation_playbooks_default_each_option_as_the_one_source_does():
    """The playbooks turn -e variables into options; where they write a default it is the one of OPTIONS."""
    for name, defaults in OPTIONS.items():
        text = (ROOT / "playbooks" / f"{name}.yml").read_text()
        written = dict(re.findall(r"(\w+) \| default\(([^()]*)\)", text))
        assert written, name
        for option, default in written.items():
            assert yaml.safe_load(default) == defaults[option], f"{name}.yml: {option} defaults to {default}"
