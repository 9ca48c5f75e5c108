"""Every role's defaults and meta/argument_specs.yml agree: same options, same default values, typed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
PYTHON_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict, "path": str}


def load(role: str) -> tuple[dict, dict]:
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"]["options"]


def test_every_role_has_argument_specs():
    assert set(ROLES) == {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}
    assert ROLES, "no roles found"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_argument_specs(role):
    defaults, options = load(role)
    assert sorted(defaults) == sorted(options), "every default is documented, every option has a default"
    for name, option in options.items():
        assert name.startswith(f"{role}_"), f"{name} is not prefixed with the role name"
        assert "type" in option and option.get("description"), f"{name}: type and description are required"
        if option.get("required"):
            assert defaults[name] in ("", None), f"{name} is required, so its default must be empty"
            continue
        assert option.get("default") == defaults[name], f"{name}: default differs from argument_specs"
        assert isinstance(defaults[name], PYTHON_TYPES[option["type"]]), f"{name}: default is not a {option['type']}"
