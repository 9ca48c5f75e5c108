"""The Prometheus rules of every system pack (inventories/<system>/prometheus/): valid, passing their
`promtool test rules` cases with Prometheus' own engine, each alert tested firing and not firing, with the
labels the receiver and the incident role act on; and the documented test override (tests/support/
pack_rules.py) shortening only `for:` and windows. A pack added later is found by the glob and checked."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pack_rules
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted(path.parent for path in ROOT.glob("inventories/*/prometheus/rules.yml"))
SEVERITY_LEVELS = yaml.safe_load((ROOT / "roles/incident/defaults/main.yml").read_text())["incident_severity_levels"]


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: scripts/setup installs Debian's prometheus package, which ships it"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def rule_test_failures(*test_files: Path) -> str:
    """promtool's report when `promtool test rules` does not pass the files, empty when it does."""
    done = promtool("test", "rules", *(path.name for path in test_files), cwd=test_files[0].parent)
    return "" if done.returncode == 0 else f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def rules_of(pack: Path) -> list[dict]:
    return [rule for group in yaml.safe_load((pack / "rules.yml").read_text())["groups"] for rule in group["rules"]]


def rule_tests_of(pack: Path) -> list[dict]:
    return [yaml.safe_load(path.read_text()) for path in sorted(pack.glob("*.test.yml"))]


def pack_id(pack: Path) -> str:
    return pack.parent.name


def test_the_four_systems_of_the_runbooks_have_a_pack():
    assert {"oneiric", "omniroute", "supervisor", "genesis"} <= {pack_id(pack) for pack in PACKS}
    assert pack_rules.systems() == sorted(pack_id(pack) for pack in PACKS)


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_promtool_finds_the_rules_valid(pack):
    done = promtool("check", "rules", str(pack / "rules.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules_of(pack))} rules found" in done.stdout


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_the_rules_pass_their_promtool_tests(pack):
    test_files = sorted(pack.glob("*.test.yml"))
    assert test_files, f"{pack} has no *.test.yml for promtool test rules"
    assert rule_test_failures(*test_files) == ""


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_every_rule_has_cases_firing_and_not_on_the_pack_own_file(pack):
    tests = rule_tests_of(pack)
    assert all(test["rule_files"] == ["rules.yml"] for test in tests)  # the pack's own file, not a copy
    cases = [case for test in tests for group in test["tests"] for case in group.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    alerts = {rule["alert"] for rule in rules_of(pack) if "alert" in rule}
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested not firing (just below, or before their for:)"
    exprs = " ".join(
        case["expr"] for test in tests for group in test["tests"] for case in group.get("promql_expr_test", [])
    )  # fmt: skip
    records = {rule["record"] for rule in rules_of(pack) if "record" in rule}
    assert {name for name in records if not re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", exprs)} == set()


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_every_alert_names_its_host_severity_service_and_runbook(pack):
    for rule in (rule for rule in rules_of(pack) if "alert" in rule):
        labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
        # the incident role acts by this level (P0/P1 act, the others wait for a person)
        assert str(labels.get("severity", "")).lower() in SEVERITY_LEVELS, rule["alert"]
        assert labels.get("service") == pack_id(pack), rule["alert"]  # the service's name in the pack's inventory
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        assert annotations["runbook_url"].startswith(f"docs/systems/{pack_id(pack)}.md#"), rule["alert"]
    # Prometheus' engine says which labels an alert carries: every one fired in the tests names its host
    for test in rule_tests_of(pack):
        for group in test["tests"]:
            for case in group.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    assert {"instance", "job", "severity", "service"} <= set(alert["exp_labels"]), case


def test_a_failing_rule_case_fails_the_check(tmp_path):
    # 4.9 % of resolutions failing is below the runbook's 5 %: a case expecting a page must be reported
    wrong = {
        "rule_files": [str(ROOT / "inventories/oneiric/prometheus/rules.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'oneiric_resolution_total{instance="a:8000",job="oneiric",outcome="success"}',
                 "values": "0+951x10"},
                {"series": 'oneiric_resolution_total{instance="a:8000",job="oneiric",outcome="failed"}',
                 "values": "0+49x10"},
            ],
            "alert_rule_test": [{"eval_time": "5m", "alertname": "OneiricResolutionFailureRateHigh",
                                 "exp_alerts": [{"exp_labels": {"instance": "a:8000"}}]}],
        }],
    }  # fmt: skip
    (tmp_path / "wrong.test.yml").write_text(yaml.safe_dump(wrong))
    failures = rule_test_failures(tmp_path / "wrong.test.yml")
    assert "FAILED" in failures and "OneiricResolutionFailureRateHigh" in failures


# --- the test override: tests/support/pack_rules.py -----------------------------------------------------

DURATION = re.compile(r"\b\d+(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d|w|y))*\b")
WINDOW = re.compile(r"\[(\w+)\]|offset (\w+)")  # a range selector's or an offset's duration (no subquery in the packs)


def windows(expr: str) -> list[float]:
    """The seconds of each range window and offset of an expression, in order."""
    return [pack_rules.seconds(range_ or offset) for range_, offset in WINDOW.findall(expr)]


def without_durations(rules: dict) -> dict:
    """The rules with `for:` dropped and every duration in the expressions replaced by one token."""
    rules = yaml.safe_load(yaml.safe_dump(rules))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
            rule["expr"] = DURATION.sub("D", rule["expr"])
    return rules


@pytest.mark.parametrize("system", pack_rules.systems())
def test_the_override_shortens_only_for_and_windows(system, tmp_path):
    shipped = pack_rules.load(system)
    short = pack_rules.for_tests(system)
    assert pack_rules.load(system) == shipped  # not changed in place
    assert without_durations(short) == without_durations(shipped)  # names, labels, annotations, thresholds
    for before, after in zip(
        (rule for group in shipped["groups"] for rule in group["rules"]),
        (rule for group in short["groups"] for rule in group["rules"]),
        strict=True,
    ):
        if "for" in before:
            assert pack_rules.seconds(after["for"]) == pack_rules.seconds(before["for"]) / 60
        expected = [max(seconds / 60, 4.0) for seconds in windows(before["expr"])]
        assert windows(after["expr"]) == expected, after["expr"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(short))
    done = promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_override_keeps_label_values_and_pairs_offsets_with_windows():
    expr = 'increase(x{path="/a[5m]",re=~"v[0-9]"}[15m]) or (x unless x offset 15m) or max_over_time(y[1h:30s])'
    assert pack_rules.shortened_expr(expr) == (
        'increase(x{path="/a[5m]",re=~"v[0-9]"}[15s]) or (x unless x offset 15s) or max_over_time(y[60s:500ms])'
    )
    assert pack_rules.shortened_expr("rate(x[1m])", factor=10, min_window=2) == "rate(x[6s])"
    assert pack_rules.shortened_expr("rate(x[1m])") == "rate(x[4s])"  # a rate keeps two 1 s scrapes and more
    with pytest.raises(ValueError, match="rule A: not a Prometheus duration: '5 minutes'"):
        pack_rules.shortened({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "x", "for": "5 minutes"}]}]})
    with pytest.raises(FileNotFoundError, match="no pack 'nagios'"):
        pack_rules.load("nagios")


def test_the_shortened_rules_fire_in_seconds_on_the_same_thresholds(tmp_path):
    # Genesis HighErrorRate: > 0.1 % for 2m becomes > 0.1 % for 2s over 5 s windows; 0.09 % never fires
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(pack_rules.for_tests("genesis")))
    case = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": [
                {"series": 'genesis_operation_duration_seconds_count{instance="a:8000",job="genesis"}',
                 "values": "0+10000x20"},
                {"series": 'genesis_errors_total{instance="a:8000",job="genesis"}', "values": "0+11x20"},
                {"series": 'genesis_operation_duration_seconds_count{instance="b:8000",job="genesis"}',
                 "values": "0+10000x20"},
                {"series": 'genesis_errors_total{instance="b:8000",job="genesis"}', "values": "0+9x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "2s", "alertname": "HighErrorRate", "exp_alerts": []},
                {"eval_time": "3s", "alertname": "HighErrorRate", "exp_alerts": [{
                    "exp_labels": {"severity": "P1", "service": "genesis", "instance": "a:8000", "job": "genesis"},
                    "exp_annotations": {
                        "summary": "Genesis error rate on a:8000 is 0.11%",
                        "description": next(rule for rule in pack_rules.load("genesis")["groups"][0]["rules"]
                                            if rule.get("alert") == "HighErrorRate")["annotations"]["description"],
                        "runbook_url": "docs/systems/genesis.md#incident-higherrorrate",
                    },
                }]},
            ],
        }],
    }  # fmt: skip
    (tmp_path / "short.test.yml").write_text(yaml.safe_dump(case))
    assert rule_test_failures(tmp_path / "short.test.yml") == ""
