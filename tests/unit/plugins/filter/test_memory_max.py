"""memory_max: the runbook formula and its rounding, and clear errors for bad input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.incident.remediation.plugins.filter.memory_max import FilterModule, memory_max


def test_runbook_case_200_instances_is_12g():
    # 200 x 50 MB + 500 MB = 10,500 MB -> rounded up to a multiple of 2G -> 12G
    assert memory_max(200) == "12G"


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((0,), {}, "2G"),
        ((30,), {}, "2G"),  # 2,000 MB
        ((31,), {}, "4G"),  # 2,050 MB
        (("200",), {}, "12G"),  # a value read from a metric arrives as text
        ((199.2,), {}, "12G"),  # an average is rounded up to whole instances
        ((200,), {"round_to": "1G"}, "11G"),
        ((200,), {"round_to": "512M"}, "10752M"),
        ((200,), {"round_to": 256}, "10752M"),
        ((10,), {"per_instance_mb": 100, "base_mb": 0, "round_to": "1G"}, "1G"),
        ((1000,), {}, "50G"),
    ],
)
def test_formula_and_rounding(args, kwargs, expected):
    assert memory_max(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((-1,), {}, "must be a finite number >= 0"),
        (("many",), {}, "the instance count must be a number"),
        ((None,), {}, "the instance count must be a number"),
        ((True,), {}, "must be a number"),
        ((float("nan"),), {}, "finite"),
        ((10,), {"per_instance_mb": -5}, "per_instance_mb must be a finite number >= 0"),
        ((10,), {"round_to": "2X"}, "round_to must be a size like 512M or 2G"),
        ((10,), {"round_to": 0}, "round_to must be more than 0"),
    ],
)
def test_bad_input_is_a_clear_filter_error(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        memory_max(*args, **kwargs)


def test_registered_under_its_name():
    assert FilterModule().filters()["memory_max"] is memory_max
