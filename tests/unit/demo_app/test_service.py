"""The demo service as a running process: each fault switch does what the mitigations expect."""

from __future__ import annotations

import json
import time

import pytest


def test_healthy_service_is_ready_and_exports_its_metrics(demo):
    app = demo().start()
    status, health = app.get("/health")
    assert (status, health["status"], health["version"], health["reasons"]) == (200, "ready", "1.0.0", [])
    for _ in range(3):
        assert app.request("/")[0] == 200
    metrics = app.metrics()
    assert metrics['demo_app_requests_total{outcome="success"}'] == 3
    assert metrics['demo_app_requests_total{outcome="error"}'] == 0
    assert metrics["demo_app_request_duration_seconds_count"] == 3
    assert metrics['demo_app_request_duration_seconds_bucket{le="+Inf"}'] == 3
    assert metrics['demo_app_cache_artifacts{state="verified"}'] == 4
    assert metrics['demo_app_cache_artifacts{state="corrupted"}'] == 0
    assert metrics["demo_app_active_instances"] == 1
    assert metrics["demo_app_ready"] == 1
    assert metrics['demo_app_info{version="1.0.0"}'] == 1
    assert metrics["process_resident_memory_bytes"] > 1_000_000
    assert app.stop() == 0, "SIGTERM is a clean shutdown"


def test_crash_at_start_exits_non_zero(demo):
    app = demo()
    app.write_config({"faults": {"crash_at_start": True}})
    result = app.command()
    assert result.returncode == 1
    assert "crash_at_start" in result.stderr


def test_invalid_config_exits_with_ex_config_and_says_why(demo):
    app = demo()
    app.config_path.write_text("port: 8080\nfaults:\n  error_rate: lots\n")
    for args in ((), ("check-config",)):
        result = app.command(*args)
        assert result.returncode == 78
        assert "faults.error_rate: expected float" in result.stderr
    app.write_config({})
    assert app.command("check-config").returncode == 0


def test_error_rate_fails_exactly_that_share_of_requests(demo):
    app = demo()
    app.write_config({"faults": {"error_rate": 0.25}})
    app.start()
    codes = [app.request("/")[0] for _ in range(40)]
    assert codes.count(500) == 10
    metrics = app.metrics()
    assert metrics['demo_app_requests_total{outcome="error"}'] == 10
    assert metrics['demo_app_requests_total{outcome="success"}'] == 30


def test_latency_shows_in_the_histogram(demo):
    app = demo()
    app.write_config({"faults": {"latency_ms": 120}})
    app.start()
    app.request("/")
    metrics = app.metrics()
    assert metrics['demo_app_request_duration_seconds_bucket{le="0.1"}'] == 0
    assert metrics['demo_app_request_duration_seconds_bucket{le="0.25"}'] == 1
    assert metrics["demo_app_request_duration_seconds_sum"] >= 0.12


def test_release_that_never_becomes_ready(demo):
    app = demo(version="2.0.0", faults={"never_ready": True}).start()
    time.sleep(0.3)
    status, health = app.get("/health")
    assert (status, health["status"], health["version"]) == (503, "starting", "2.0.0")
    assert app.metrics()["demo_app_ready"] == 0


def test_startup_delay_then_ready(demo):
    app = demo()
    app.write_config({"startup_seconds": 0.5})
    app.start()
    assert app.get("/health")[1]["status"] == "starting"
    time.sleep(0.6)
    assert app.get("/health")[1]["status"] == "ready"


def test_corrupted_artifact_is_detected_at_start(demo):
    app = demo()
    (app.cache / "artifact-02.bin").write_bytes(b"not what the manifest says")
    app.start()
    status, health = app.get("/health")
    assert (status, health["status"]) == (503, "degraded")
    assert "cache: 1 corrupted, 0 missing artifacts" in health["reasons"]
    metrics = app.metrics()
    assert metrics['demo_app_cache_artifacts{state="corrupted"}'] == 1
    assert metrics['demo_app_digest_checks_total{outcome="failed"}'] == 1
    app.stop()
    assert 'event="digest-check-failed" artifact=artifact-02.bin' in app.proc.stderr.read()


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "HTTPS_PROXY", "https_proxy"])
def test_required_proxy_degrades_health_until_the_environment_has_it(demo, variable):
    without = demo()
    without.write_config({"faults": {"require_proxy": True}})
    without.start()
    health = without.get("/health")[1]
    assert health["status"] == "degraded"
    assert "HTTP_PROXY/HTTPS_PROXY not set" in health["reasons"][0]
    without.stop()
    with_proxy = without.start(env={variable: "http://proxy.invalid:3128"})
    assert with_proxy.get("/health")[1]["status"] == "ready"


def test_memory_growth_raises_resident_memory(demo):
    app = demo()
    app.write_config({"faults": {"memory_growth_mb_per_s": 20, "memory_growth_max_mb": 40}})
    app.start()
    before = app.metrics()["process_resident_memory_bytes"]
    time.sleep(2.5)
    grown = app.metrics()["process_resident_memory_bytes"] - before
    assert 35e6 < grown < 60e6, grown


def test_instances_hold_memory_and_can_be_changed_at_run_time(demo):
    app = demo()
    app.write_config({"instances": 2, "instance_memory_mb": 10})
    app.start()
    metrics = app.metrics()
    assert metrics["demo_app_active_instances"] == 2
    status, body = app.request("/control/faults", {"instances": 6})
    assert status == 200 and json.loads(body)["instances"] == 6
    after = app.metrics()
    assert after["demo_app_active_instances"] == 6
    assert after["process_resident_memory_bytes"] - metrics["process_resident_memory_bytes"] > 35e6


def test_control_endpoint_switches_faults_at_run_time(demo):
    app = demo().start()
    status, body = app.request("/control/faults", {"error_rate": 1.0, "require_proxy": True})
    assert status == 200 and json.loads(body)["error_rate"] == 1.0
    assert app.request("/")[0] == 500
    assert app.get("/health")[1]["status"] == "degraded"
    assert app.get("/control/faults")[1]["require_proxy"] is True
    app.request("/control/faults", {"error_rate": 0, "require_proxy": False})
    assert app.request("/")[0] == 200
    assert app.get("/health")[1]["status"] == "ready"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"crash_at_start": True}, "not run-time faults: crash_at_start"),
        ({"error_rate": 3}, "faults.error_rate: must be between 0 and 1"),
        ({"instances": -1}, "instances: must be >= 0"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_control_endpoint_refuses_bad_input_and_changes_nothing(demo, body, message):
    app = demo().start()
    before = app.get("/control/faults")[1]
    status, text = app.request("/control/faults", body)
    assert status == 400
    assert message in json.loads(text)["error"]
    assert app.get("/control/faults")[1] == before


def test_broken_provider_fails_its_share_until_it_is_disabled(demo):
    app = demo()
    providers = {"primary": {"active": True}, "flaky": {"active": True, "broken": True}}
    app.write_config({"providers": providers})
    app.start()
    assert sorted(app.request("/")[0] for _ in range(4)) == [200, 200, 500, 500]
    assert app.metrics()['demo_app_provider_active{provider="flaky"}'] == 1
    app.stop()
    app.write_config({"providers": {**providers, "flaky": {"active": False, "broken": True}}})
    app.start()
    assert {app.request("/")[0] for _ in range(4)} == {200}
    assert app.metrics()['demo_app_provider_active{provider="flaky"}'] == 0


def test_unknown_endpoint_is_404(demo):
    app = demo().start()
    assert app.request("/nope")[0] == 404


def test_provider_api_toggles_a_provider_at_run_time(demo):
    app = demo()
    app.write_config({"providers": {"primary": {"active": True}, "flaky": {"active": True, "broken": True}}})
    app.start()
    assert json.loads(app.request("/api/providers/flaky")[1]) == {"id": "flaky", "isActive": True, "broken": True}
    status, body = app.put("/api/providers/flaky", {"isActive": False})
    assert status == 200 and json.loads(body)["isActive"] is False
    assert {app.request("/")[0] for _ in range(4)} == {200}
    assert app.put("/api/providers/flaky", {"isActive": "no"})[0] == 400
    assert app.put("/api/providers/nope", {"isActive": False})[0] == 404
