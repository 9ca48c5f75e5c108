"""The alerting rules for the automation itself (docs/examples/remediate-alerts.yml): valid, doing what
their unit tests say with Prometheus' own engine (promtool), and about metrics the receiver exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from incident_remediation.metrics import Metrics

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "docs/examples/remediate-alerts.yml"
RULE_TESTS = ROOT / "tests/fixtures/prometheus/remediate-alerts.test.yml"


def promtool(*args: str, cwd: Path = ROOT) -> str:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: scripts/setup installs Debian's prometheus package"
    done = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_are_valid():
    assert "SUCCESS: 10 rules found" in promtool("check", "rules", str(RULES))


def test_the_rules_pass_their_unit_tests():
    # the first failure on a host pages though increase() cannot see a new series; resolved outcomes never page
    assert "SUCCESS" in promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)


def test_every_receiver_metric_the_rules_use_is_exposed():
    metrics = Metrics()
    metrics.inc("remediate_incidents_total", outcome="failed", host="web1", route="down")
    page = metrics.render({"queued": 1})
    exposed = set(re.findall(r"^(remediate_[a-z_]+)[{ ]", page, re.M))
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"\b(remediate_[a-z_]+)", rule["expr"])}
    assert used and used <= exposed, used - exposed
    for label in ("host", "route", "outcome"):
        assert f'{label}="' in page.split("remediate_incidents_total{", 1)[1].split("}", 1)[0]
