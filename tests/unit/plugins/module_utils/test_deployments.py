"""deployments: a git ref and a version are data (hostile input refused), output capped, the good/bad record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.deployments import (
    Records,
    capped,
    check_ref,
    check_version,
)

HOSTILE = ["--upload-pack=touch /tmp/x", "-x", ";rm -rf /", "v1.2.3;rm -rf /", "v1\nv2", "v1 v2", "$(id)", "`id`",
           "v1.2.3\n", "", "vé1", "v\uff11", "v1\x00", "../etc", "a|b", "a&b", "~1", "v1'", 'v1"']  # fmt: skip


@pytest.mark.parametrize("version", ["v1.2.3", "1.4.0-rc.1", "2026.12.01+build.7", "0f3a9c1d2e", "V9"])
def test_a_version_is_letters_digits_and_dots(version):
    assert check_version(version) == version


@pytest.mark.parametrize("version", [*HOSTILE, "x" * 129, None, 12])
def test_a_hostile_version_is_refused_saying_what_a_version_is(version):
    with pytest.raises(ValueError, match="is not a version: letters, digits and"):
        check_version(version)


@pytest.mark.parametrize("ref", ["origin/deployment-stable", "deployment-stable", "v1.2.3", "release/2026-12",
                                 "e408b4ac0052699166cc09a31dca993ad1360a69"])  # fmt: skip
def test_a_ref_is_a_ref(ref):
    assert check_ref(ref) == ref


@pytest.mark.parametrize("ref", [*HOSTILE, "HEAD~1", "main..evil", "a//b", "origin/.hidden", "a/", "a.", "a.lock",
                                 "HEAD@{1}", "a^{tree}", "a:b", "x" * 256])  # fmt: skip
def test_a_hostile_ref_is_refused(ref):
    with pytest.raises(ValueError, match="is not a ref"):
        check_ref(ref)


def test_output_is_capped_to_its_tail_saying_how_much_was_cut():
    assert capped(b"short") == "short" and capped(None) == ""
    text = capped(b"a" * 100 + b"the end", 7)
    assert text == "[100 bytes cut]\nthe end"
    assert capped("é".encode() * 3, 3).endswith("é"), "a cut inside a character is replaced, never an error"


def test_the_record_keeps_good_and_bad_and_the_last_good_is_neither_bad_nor_running(tmp_path):
    records = Records(str(tmp_path / "state"), "demo-app.service")
    assert records.last_good() == ""
    records.mark("good", "v1")
    records.mark("good", "v2")
    records.mark("good", "v3")
    records.mark("bad", "v3", reason="INC-1")
    assert records.last_good() == "v2" and records.bad() == {"v3"}
    assert records.last_good(besides="v2") == "v1", "the version running is not a target"
    records.mark("good", "v3")
    assert records.bad() == set() and records.last_good() == "v3", "good again takes it out of bad"
    assert oct(os.stat(records.path).st_mode & 0o777) == "0o600"
    assert json.loads(Path(records.path).read_text())["good"][-1]["version"] == "v3"


def test_the_record_is_never_read_or_written_through_a_planted_link(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"good": [{"version": "evil"}], "bad": []}))
    os.symlink(target, state / "demo-app.service.json")
    records = Records(str(state), "demo-app.service")
    with pytest.raises(ValueError, match="a link planted in its place"):
        records.last_good()
    assert json.loads(target.read_text())["good"] == [{"version": "evil"}]


@pytest.mark.parametrize("unit", ["../../etc/passwd", "a/b", "", "-x"])
def test_the_record_of_a_unit_that_is_no_unit_name_is_refused(tmp_path, unit):
    with pytest.raises(ValueError, match="is not a systemd unit name"):
        Records(str(tmp_path), unit)
