"""unit_environment: only the variables asked about leave the host, redacted; compared on the host.

The unit's main process is a real process here (``sleep`` with a chosen environment, secrets in it);
``systemctl`` is a stand-in on PATH naming its PID, as this machine runs no systemd. The real unit on
a real systemd host is read by the proxy_config molecule scenario and tests/integration/test_proxy_secrets.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from ansible_collections.incident.remediation.plugins.modules import unit_environment

NAMES = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"]
ENVIRONMENT = {"HTTPS_PROXY": "http://admin:hunter2@corp.proxy.test:3128", "NO_PROXY": "localhost,127.0.0.1",
               "API_TOKEN": "tok-never-leaves", "DATABASE_URL": "postgres://app:pw-never-leaves@db/app"}  # fmt: skip


@pytest.fixture
def unit(tmp_path, monkeypatch):
    """A running process with ENVIRONMENT, and a systemctl that says it is demo-app.service's main PID."""
    process = subprocess.Popen(["sleep", "60"], env=ENVIRONMENT)
    state = tmp_path / "state"
    state.write_text(f"MainPID={process.pid}\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "systemctl").write_text(f"#!/bin/sh\ncat {state}\n")
    (bindir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    yield state
    process.kill()
    process.wait()


def read(run_module, **args):
    return run_module(unit_environment, {"unit": "demo-app.service", "names": NAMES, **args})


def test_only_the_names_asked_are_returned_with_credentials_redacted(run_module, unit):
    failed, result = read(run_module)
    assert not failed and not result["changed"] and result["matches"]
    assert result["environment"] == {
        "HTTPS_PROXY": "http://***@corp.proxy.test:3128",
        "NO_PROXY": "localhost,127.0.0.1",
    }
    text = json.dumps(result)
    for secret in ("hunter2", "admin", "never-leaves", "API_TOKEN", "DATABASE_URL"):
        assert secret not in text, f"{secret} left the host"


def test_what_differs_is_said_redacted_and_the_expected_values_are_never_logged(run_module, unit):
    expect = {"HTTPS_PROXY": "http://tok3n@proxy.internal.test:3128", "HTTP_PROXY": "http://tok3n@proxy.internal.test:3128",
              "NO_PROXY": "localhost,127.0.0.1"}  # fmt: skip
    failed, result = read(run_module, expect=expect, absent=["https_proxy"])
    assert not failed and result["matches"] is False
    assert (result["missing"], result["different"], result["unwanted"]) == (["HTTP_PROXY"], ["HTTPS_PROXY"], [])
    assert result["message"].endswith(": HTTPS_PROXY is http://***@corp.proxy.test:3128, not the value asked for; "
                                      "HTTP_PROXY is not set")  # fmt: skip
    text = json.dumps(result)
    assert "hunter2" not in text and "tok3n" not in text, "neither what the host has nor what was asked"
    assert set(result["invocation"]["module_args"]["expect"].values()) == {"VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}


def test_absent_names_that_are_set_are_unwanted(run_module, unit):
    _, result = read(run_module, absent=NAMES)
    assert result["matches"] is False and result["unwanted"] == ["HTTPS_PROXY", "NO_PROXY"]
    assert "HTTPS_PROXY is set (http://***@corp.proxy.test:3128) but should not be" in result["message"]
    _, result = read(run_module, names=["HTTP_PROXY"], absent=["HTTP_PROXY"])
    assert result["matches"] is True and result["environment"] == {}


def test_check_mode_reads_the_same(run_module, unit):
    failed, result = run_module(unit_environment, {"unit": "demo-app.service", "names": NAMES}, check_mode=True)
    assert not failed and result["environment"]["NO_PROXY"] == "localhost,127.0.0.1"


def test_a_unit_without_a_main_process_fails_naming_its_state(run_module, unit):
    unit.write_text("MainPID=0\nLoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n")
    failed, result = read(run_module, wait=0)
    assert failed
    assert result["msg"] == ("demo-app.service has no running main process after 0 s (LoadState=loaded, "
                             "ActiveState=failed, SubState=failed, Result=exit-code): see systemctl status "
                             "demo-app.service and journalctl -u demo-app.service")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ({"unit": "demo; rm -rf /"}, "is not a systemd unit name"),
        ({"names": ["HTTP_PROXY=x"]}, "not environment variable names"),
        ({"expect": {"OTHER": "localhost"}}, "may only use names that are read"),
        ({"expect": {"NO_PROXY": "localhost"}, "absent": ["NO_PROXY"]}, "both expected and absent"),
        ({"wait": -1}, "wait must be at least 0"),
        ({"expect": {"NO_PROXY": ["localhost"]}}, "must be a string"),
    ],
)
def test_bad_input_is_refused(run_module, unit, args, said):
    failed, result = read(run_module, **args)
    assert failed and said in result["msg"]
