"""The configuration loader: a typed object, or an error naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from incident_remediation.config import load
from incident_remediation.errors import ConfigError

ROUTE = {"name": "down", "alertname": "DemoAppDown", "playbook": "incident.remediation.remediate"}


def write(tmp_path, data, name="remediate.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_a_full_config_loads_with_paths_relative_to_it(tmp_path):
    (tmp_path / "token").write_text("0123456789abcdef-token\n")
    write(tmp_path, {"routes": [{**ROUTE, "match_regex": {"instance": "web.*"}, "severities": ["Critical"]}]}, "r.yml")
    config = load(write(tmp_path, {"listen": "0.0.0.0:9999", "token_file": "token", "inventory": "inv",
                                   "data_dir": "data", "max_jobs": 4, "routes_file": "r.yml"}))  # fmt: skip
    assert (config.listen_host, config.listen_port, config.max_jobs) == ("0.0.0.0", 9999, 4)
    assert config.inventory == str(tmp_path / "inv") and config.data_dir == tmp_path / "data"
    assert config.routes[0].severities == ("critical",) and config.routes[0].regex["instance"].pattern == "web.*"
    assert config.token() == "0123456789abcdef-token"


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"routes": [ROUTE], "color": "red"}, "(top level)", "unknown keys ['color']"),
        ({"routes": "x"}, "routes", "must be a list of routes"),
        ({}, "routes", "must be a list of routes"),
        ({"routes": [{**ROUTE, "name": ""}]}, "routes[0].name", "is required"),
        ({"routes": [{**ROUTE, "when": 1}]}, "routes[0]", "unknown keys ['when']"),
        ({"routes": [{**ROUTE, "match_regex": {"instance": "("}}]}, "routes[down].match_regex.instance",
         "not a regular expression"),
        ({"routes": [{**ROUTE, "vars": {"alert": {}}}]}, "routes[down].vars", "['alert'] are set by the receiver"),
        ({"routes": [{**ROUTE, "cooldown": -1}]}, "routes[down].cooldown", "must be at least 0"),
        ({"routes": [{**ROUTE, "concurrency": True}]}, "routes[down].concurrency", "must be an integer"),
        ({"routes": [{**ROUTE, "labels": "instance"}]}, "routes[down].labels", "must be a list of strings"),
        ({"routes": [ROUTE, ROUTE]}, "routes", "route names must be unique: ['down']"),
        ({"routes": [ROUTE], "listen": "9095"}, "listen", "must be host:port"),
        ({"routes": [ROUTE], "max_jobs": 0}, "max_jobs", "must be at least 1"),
    ],
)  # fmt: skip
def test_errors_name_file_key_and_problem(tmp_path, data, key, problem):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert (caught.value.source, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read it"):
        load(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(write(tmp_path, "routes: [unclosed"))


def test_the_token_comes_from_the_environment_or_a_file_never_the_config(tmp_path, monkeypatch):
    config = load(write(tmp_path, {"routes": [ROUTE], "token_file": "nope"}))
    monkeypatch.delenv("REMEDIATE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="cannot read"):
        config.token()
    monkeypatch.setenv("REMEDIATE_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        config.token()
    monkeypatch.setenv("REMEDIATE_TOKEN", "x" * 32)
    assert config.token() == "x" * 32


def test_the_documented_example_loads():
    config = load(Path(__file__).resolve().parents[3] / "docs" / "examples" / "remediate.yml")
    assert [r.name for r in config.routes] == ["demo-app-down", "demo-app-error-rate", "digest-failures"]
    assert config.routes[1].regex["instance"].fullmatch("app12.example.com:8080")
    assert config.routes[1].variables == {"options": {"escalate": True}} and config.awx == {}
