"""The demo service's config: the YAML subset it reads and the validation that makes a config invalid."""

from __future__ import annotations

import demo_config
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st


def test_block_yaml_with_nesting_lists_comments_and_quotes():
    text = """\
# comment
port: 8080
faults:
  error_rate: 0.5   # half of the requests fail
  require_proxy: yes
items:
- a
- 'b # not a comment'
nested:
    - 1
    - 2.5
name: "x: y"
empty: []
none: ~
"""
    assert demo_config.parse_yaml(text) == {
        "port": 8080,
        "faults": {"error_rate": 0.5, "require_proxy": True},
        "items": ["a", "b # not a comment"],
        "nested": [1, 2.5],
        "name": "x: y",
        "empty": [],
        "none": None,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n  b: 2\n", "line 2: bad indentation"),
        ("a:1\n", "line 1: expected 'key: value'"),
        ("a: 1\na: 2\n", "line 2: duplicate key 'a'"),
        ("a: [1\n", "line 1: unsupported YAML syntax"),
        ("a:\n\tb: 1\n", "line 2: tab used for indentation"),
        ("a: 'open\n", "line 1: unterminated quoted string"),
        ("- x\n", "line 1: list item where a 'key: value' was expected"),
    ],
)
def test_malformed_yaml_is_an_error_with_a_line_number(text, message):
    with pytest.raises(demo_config.ConfigError, match=message.replace("[", r"\[")):
        demo_config.parse_yaml(text)


settings = st.fixed_dictionaries(
    {},
    optional={
        "port": st.integers(1, 65535),
        "log_level": st.sampled_from(["debug", "info", "warning", "error"]),
        "concurrency": st.integers(1, 64),
        "startup_seconds": st.floats(0, 100, allow_nan=False),
        "cache_dir": st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1),
        "faults": st.fixed_dictionaries(
            {},
            optional={
                "error_rate": st.floats(0, 1, allow_nan=False),
                "never_ready": st.booleans(),
                "latency_ms": st.integers(0, 10_000),
            },
        ),
        "providers": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
            st.fixed_dictionaries({"active": st.booleans(), "broken": st.booleans()}),
            min_size=1,
            max_size=3,
        ),
    },
)


# strings PyYAML (YAML 1.1) writes plain that a looser reader takes for numbers or booleans (hypothesis found 0E0)
@example({"cache_dir": "0E0"})
@example({"cache_dir": "1e5"})
@example({"cache_dir": "-.5"})
@example({"cache_dir": "09"})
@example({"cache_dir": "yEs"})
@example({"cache_dir": "oN"})
@given(settings)
def test_reads_what_ansible_to_nice_yaml_writes(config):
    # to_nice_yaml is yaml.dump(indent=2 here, default_flow_style=False) with Ansible's dumper.
    text = yaml.safe_dump(config, indent=2, default_flow_style=False, allow_unicode=True)
    assert demo_config.parse_yaml(text) == config
    assert demo_config.validate(config)["faults"]["crash_at_start"] is False


def test_defaults_fill_what_the_file_leaves_out():
    config = demo_config.validate({"port": 9000})
    assert config["port"] == 9000
    assert config["log_level"] == "info"
    assert config["faults"]["error_rate"] == 0.0
    assert config["providers"] == {"primary": {"active": True, "broken": False}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"port": "eighty"}, "port: expected int"),
        ({"port": 0}, "port: must be a port number"),
        ({"log_level": "loud"}, "log_level: must be one of"),
        ({"concurrency": True}, "concurrency: expected int"),
        ({"faults": {"error_rate": 2}}, "faults.error_rate: must be between 0 and 1"),
        ({"faults": {"explode": True}}, "faults: unknown key"),
        ({"provders": {}}, "unknown key.*provders"),
        ({"providers": ["a"]}, "providers: expected a mapping"),
        ({"providers": {"p": {"active": "maybe"}}}, "providers.p.active: expected bool"),
    ],
)
def test_invalid_values_name_the_key(data, message):
    with pytest.raises(demo_config.ConfigError, match=message):
        demo_config.validate(data)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("port: 70000\n")
    with pytest.raises(demo_config.ConfigError, match=f"{path}: port: must be a port number"):
        demo_config.load(str(path))
    with pytest.raises(demo_config.ConfigError, match="cannot read"):
        demo_config.load(str(tmp_path / "missing.yml"))
