"""set_paths: dotted keys set and removed, order kept, clear errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.incident.remediation.plugins.filter.set_paths import set_paths

CONFIG = {"port": 8080, "log_level": "info", "providers": {"primary": {"active": True}, "flaky": {"active": True}}}


def test_set_nested_keeps_order_and_the_input():
    result = set_paths(CONFIG, {"providers.flaky.active": False, "log_level": "debug", "cache.size": 5})
    assert result["providers"]["flaky"] == {"active": False}
    assert list(result) == ["port", "log_level", "providers", "cache"]
    assert result["cache"] == {"size": 5}
    assert CONFIG["providers"]["flaky"]["active"] is True, "the input is not modified"


def test_remove_paths():
    result = set_paths(CONFIG, {}, remove=["providers.flaky", "nope.nothing", "log_level"])
    assert result == {"port": 8080, "providers": {"primary": {"active": True}}}


@pytest.mark.parametrize(
    ("values", "message"),
    [({"port.number": 1}, "port is a int, not a mapping"), ({"a..b": 1}, "is not a dotted path")],
)
def test_errors(values, message):
    with pytest.raises(AnsibleFilterError, match=message):
        set_paths(CONFIG, values)
    with pytest.raises(AnsibleFilterError, match="expected a mapping"):
        set_paths(["a"], {})
