"""The names and paths the roles and modules accept (module_utils/names.py, the test plugins)."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.names import (
    is_release_name,
    is_safe_path,
    is_unit_name,
)
from ansible_collections.incident.remediation.plugins.test.names import TestModule as JinjaTests

HOSTILE = ["", "..", "../etc/passwd", "/etc/passwd", "a/b", "demo.service\n", "demo.service\nExecStart=/bin/sh",
           "a;id", "$(id)", "`id`", "a b", "a|b", "a&b", "-rf", ".hidden", "a\x00b", "é.service",
           42, None, ["a"]]  # fmt: skip


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_unit_and_release_names_are_refused(value):
    assert not is_unit_name(value) and not is_release_name(value)


@pytest.mark.parametrize("value", ["demo-app.service", "getty@tty1.service", "dev-disk-by\\x2duuid.device"])
def test_unit_names(value):
    assert is_unit_name(value)


@pytest.mark.parametrize("value", ["1.0.0", "2026.11.24-rc1", "v1.2.3+build.7"])
def test_release_names(value):
    assert is_release_name(value)


@pytest.mark.parametrize(
    "value",
    ["relative/path", "/", "//", "/opt/../etc", "/opt/./app", "/opt//app", "/opt/app\n", "/opt/app\n/etc",
     "/opt/a b", "/opt/$(id)", "/opt/a;b", "/opt/`id`", "/opt/a*", "/opt/é", "/" + "a" * 256, 1, None],
)  # fmt: skip
def test_hostile_paths_are_refused(value):
    assert not is_safe_path(value)


@pytest.mark.parametrize("value", ["/opt/demo-app", "/var/cache/demo-app/", "/etc/demo-app/config.yml", "/a/b..c"])
def test_plain_absolute_paths(value):
    assert is_safe_path(value)


def test_the_jinja_tests_are_these_functions():
    assert JinjaTests().tests() == {"unit_name": is_unit_name, "release_name": is_release_name,
                                    "safe_path": is_safe_path}  # fmt: skip
