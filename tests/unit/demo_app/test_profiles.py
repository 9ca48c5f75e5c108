"""The demo service's profiles (docs/demo-service.md): each system's metric names, health fields and faults.

Each profile runs as a real process on loopback (conftest.DemoApp). Every fault is switched on the way the
packs' end-to-end tests switch it (the control endpoint, the config, the release, a file on disk) and shown
to revert, or, where the runbook leaves it to a human, shown not to heal by itself.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import demo_config
import pytest
import yaml

FAST = {"tick_seconds": 0.1, "traffic_per_second": 50.0}


def wait_for(check, timeout: float = 5.0, step: float = 0.05):
    """Poll ``check`` until it returns something true; that value, or fail naming the last one seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {check.__doc__ or check}")
        time.sleep(step)


def grows(app, series: str, seconds: float = 0.6) -> bool:
    before = app.metrics().get(series, 0)
    time.sleep(seconds)
    return app.metrics().get(series, 0) > before


def faults(app, **changes) -> dict:
    status, body = app.request("/control/faults", changes)
    assert status == 200, body
    return json.loads(body)


def profile_app(demo, profile: str, **config):
    app = demo()
    app.write_config({"profile": profile, **FAST, **config})
    return app.start()


# -- every profile -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["oneiric", "omniroute", "supervisor", "relay", "genesis"])
def test_each_profile_keeps_the_generic_endpoints_and_switches_its_own_faults_at_run_time(demo, profile):
    app = profile_app(demo, profile)
    status, health = app.get("/health")
    assert (status, health["status"], health["version"]) == (200, "ready", "1.0.0"), health
    assert app.metrics()["demo_app_ready"] == 1, "the generic metrics stay"
    own = demo_config.PROFILE_FAULTS[profile]
    defaults = {name: spec[1] for name, spec in own.items()}
    assert {k: app.get("/control/faults")[1][k] for k in own} == defaults
    changed = {name: {bool: True, float: 0.5, int: 50, str: "x"}[spec[0]] for name, spec in own.items()}
    changed = {k: ("routing" if k == "error_category" else v) for k, v in changed.items()}
    assert {k: faults(app, **changed)[k] for k in own} == changed
    assert {k: faults(app, **defaults)[k] for k in own} == defaults, "and back"


def test_a_profile_fault_is_refused_by_another_profile_and_by_the_generic_service(demo):
    app = demo().start()
    status, text = app.request("/control/faults", {"swap_failure_rate": 1.0})
    assert status == 400 and "not run-time faults: swap_failure_rate" in json.loads(text)["error"]
    app.stop()
    app.write_config({"faults": {"swap_failure_rate": 1.0}})
    result = app.command("check-config")
    assert result.returncode == 78 and "faults: unknown key(s): swap_failure_rate" in result.stderr
    app.write_config({"profile": "genesis", "faults": {"swap_failure_rate": 1.0}})
    assert app.command("check-config").returncode == 78
    app.write_config({"profile": "oneiric", "faults": {"swap_failure_rate": 1.0}})
    assert app.command("check-config").returncode == 0
    app.write_config({"profile": "nope"})
    result = app.command("check-config")
    assert result.returncode == 78 and "profile: must be one of generic, oneiric" in result.stderr


def test_a_release_built_with_a_profile_fault_is_a_bad_release_of_that_profile_only(demo):
    app = demo(version="2.0.0", faults={"llm_error_rate": 1.0}, config={"profile": "genesis", **FAST})
    app.start()
    assert app.get("/control/faults")[1]["llm_error_rate"] == 1.0
    wait_for(lambda: app.metrics()["genesis_llm_errors_total"] > 0)
    app.stop()
    app.write_config({})
    result = app.command()
    assert result.returncode == 78 and "release.json faults: unknown key(s): llm_error_rate" in result.stderr


def test_the_generic_service_exposes_no_profile_metric_and_does_no_work_by_itself(demo):
    app = demo().start()
    time.sleep(0.3)
    metrics = app.metrics()
    assert [name for name in metrics if not name.startswith(("demo_app_", "process_"))] == []
    assert metrics['demo_app_requests_total{outcome="success"}'] == 0
    assert set(app.get("/health")[1]) == {"status", "version", "reasons", "uptime_seconds"}


# -- oneiric (seed 000) ------------------------------------------------------------------------------------

ONEIRIC_OK = 'oneiric_resolution_total{domain="adapter",key="cache",provider="primary",outcome="success"}'
ONEIRIC_FAILED = 'oneiric_resolution_total{domain="adapter",key="cache",provider="primary",outcome="failed"}'
SWAP = 'oneiric_lifecycle_swap_total{domain="adapter",key="cache",provider="primary",outcome="%s"}'
SYNC = 'oneiric_remote_sync_total{source="https://manifests.example.com/oneiric/manifest.yaml",outcome="%s"}'


def test_oneiric_exposes_the_runbooks_metrics_and_its_remote_state(demo):
    app = profile_app(demo, "oneiric")
    wait_for(lambda: app.metrics()[SWAP % "success"] >= 1 and app.metrics()[ONEIRIC_OK] >= 3)
    metrics = app.metrics()
    for name in (ONEIRIC_FAILED, SWAP % "failed", SWAP % "rollback", SYNC % "success", SYNC % "failed",
                 'oneiric_remote_digest_checks_total{outcome="failed"}',
                 'oneiric_remote_signature_verifications_total{outcome="success"}',
                 'oneiric_lifecycle_cleanup_total{domain="adapter",key="cache"}',
                 'oneiric_lifecycle_active_instances{domain="adapter",key="cache",provider="primary"}',
                 'oneiric_resolution_duration_seconds_bucket{domain="adapter",key="cache",le="+Inf"}',
                 'oneiric_lifecycle_swap_duration_ms_bucket{domain="adapter",key="cache",le="10000"}',
                 "oneiric_remote_artifacts_cached", "oneiric_system_uptime_seconds"):  # fmt: skip
        assert name in metrics, name
    assert metrics[ONEIRIC_FAILED] == 0 and metrics[SWAP % "failed"] == 0
    assert metrics['oneiric_remote_digest_checks_total{outcome="success"}'] >= 4
    assert sum(v for k, v in metrics.items() if k.startswith("oneiric_lifecycle_active_instances")) == 1
    health = app.get("/health")[1]
    remote = health["remote"]
    assert (remote["last_sync_outcome"], remote["consecutive_failures"], remote["circuit_breaker"]) == (
        "success", 0, "closed")  # fmt: skip
    assert health["lifecycle"] == {"active_instances": 1, "leaked_instances": 0}


def test_oneiric_resolution_failures_follow_the_error_rate_and_stop_when_it_is_reverted(demo):
    app = profile_app(demo, "oneiric")
    faults(app, error_rate=0.5)
    assert grows(app, ONEIRIC_FAILED)
    faults(app, error_rate=0)
    time.sleep(0.2)
    assert not grows(app, ONEIRIC_FAILED, 0.4)
    assert grows(app, ONEIRIC_OK, 0.3)


def test_oneiric_swap_failures_count_failed_and_rollback_until_reverted(demo):
    app = profile_app(demo, "oneiric")
    faults(app, swap_failure_rate=1.0)
    wait_for(lambda: app.metrics()[SWAP % "failed"] >= 1 and app.metrics()[SWAP % "rollback"] >= 1)
    assert 'oneiric_lifecycle_health_check_failures_total{domain="adapter",key="cache",provider="primary"}' in (
        app.metrics())  # fmt: skip
    faults(app, swap_failure_rate=0)
    time.sleep(0.15)
    assert not grows(app, SWAP % "failed", 0.5) and grows(app, SWAP % "success", 0.5)


def test_oneiric_instance_leak_grows_active_instances_until_a_restart_cleans_them(demo):
    app = profile_app(demo, "oneiric", instance_memory_mb=1)
    faults(app, instance_leak=True)
    leaked = wait_for(lambda: app.get("/health")[1]["lifecycle"]["active_instances"] >= 5 and app.metrics())
    assert sum(v for k, v in leaked.items() if k.startswith("oneiric_lifecycle_active_instances")) >= 5
    cleaned = app.metrics()['oneiric_lifecycle_cleanup_total{domain="adapter",key="cache"}']
    time.sleep(0.4)
    assert app.metrics()['oneiric_lifecycle_cleanup_total{domain="adapter",key="cache"}'] == cleaned, "no cleanup"
    app.stop()
    app.start()  # the runbook's emergency: restart to force cleanup
    time.sleep(0.3)
    assert app.get("/health")[1]["lifecycle"]["active_instances"] == 1


def test_oneiric_digest_failures_are_seen_at_every_sync_and_a_resync_clears_them_at_once(demo):
    app = profile_app(demo, "oneiric")
    (app.cache / "artifact-02.bin").write_bytes(b"tampered")
    failed = 'oneiric_remote_digest_checks_total{outcome="failed"}'
    wait_for(lambda: app.metrics()[failed] >= 2)
    health = app.get("/health")[1]
    assert health["status"] == "degraded" and "cache: 1 corrupted, 0 missing artifacts" in health["reasons"]
    assert app.metrics()["oneiric_remote_artifacts_cached"] == 3
    assert json.loads(app.command("resync").stdout)["restored"] == ["artifact-02.bin"]
    wait_for(lambda: app.get("/health")[1]["status"] == "ready")
    time.sleep(0.15)
    assert not grows(app, failed, 0.4)
    app.stop()
    assert 'event="digest-check-failed" artifact=artifact-02.bin' in app.proc.stderr.read()


def test_oneiric_remote_sync_fails_without_its_proxy_and_on_a_bad_signature(demo):
    app = profile_app(demo, "oneiric")
    faults(app, require_proxy=True)
    remote = wait_for(lambda: (r := app.get("/health")[1]["remote"])["consecutive_failures"] >= 3 and r)
    assert remote["circuit_breaker"] == "open" and remote["last_error"].startswith("network: cannot reach")
    assert app.metrics()[SYNC % "failed"] >= 3
    faults(app, require_proxy=False, signature_invalid=True)
    wait_for(lambda: app.get("/health")[1]["remote"]["last_error"] == "signature verification failed")
    assert app.metrics()['oneiric_remote_signature_verifications_total{outcome="failed"}'] >= 1
    assert app.get("/health")[1]["status"] == "ready", "stale, but the service still serves (runbook 3)"
    faults(app, signature_invalid=False)
    wait_for(lambda: app.get("/health")[1]["remote"]["consecutive_failures"] == 0)


def test_oneiric_remote_sync_works_with_the_proxy_in_the_environment(demo):
    app = demo()
    app.write_config({"profile": "oneiric", **FAST, "faults": {"require_proxy": True}})
    app.start(env={"HTTPS_PROXY": "http://proxy.invalid:3128"})
    wait_for(lambda: app.metrics()[SYNC % "success"] >= 2)
    assert app.metrics()[SYNC % "failed"] == 0


# -- omniroute (seed 001) ----------------------------------------------------------------------------------

ROUTED = 'omniroute_http_requests_total{route="/v1/responses",method="POST",code="%s"}'
FAST_BUCKET = 'omniroute_http_request_duration_seconds_bucket{route="/v1/responses",le="0.2"}'
ALL_BUCKET = 'omniroute_http_request_duration_seconds_bucket{route="/v1/responses",le="+Inf"}'


def omniroute(demo, tmp_path, **config):
    return profile_app(demo, "omniroute", data_dir=str(tmp_path / "data"), **config)


def test_omniroute_exposes_its_api_its_slo_metrics_and_an_audit_log(demo, tmp_path):
    app = omniroute(demo, tmp_path)
    assert app.get("/api/health/ping") == (200, {"status": "ok"})
    assert app.get("/api/system/version")[1]["version"] == "1.0.0"
    assert app.get("/api/providers/openai")[1] == {"id": "openai", "isActive": True, "broken": False}
    assert app.get("/api/settings/authz-inventory")[1]["policies_active"]
    status, body = app.request("/v1/responses", {"input": "hello"})
    assert status == 200 and json.loads(body)["provider"] in ("openai", "anthropic")
    wait_for(lambda: app.metrics()[ROUTED % "200"] >= 10)
    metrics = app.metrics()
    for name in (ROUTED % "500", ROUTED % "502", FAST_BUCKET, "omniroute_http_request_duration_seconds_count"
                 '{route="/v1/responses"}', 'omniroute_provider_up{provider="openai"}',
                 'omniroute_provider_active{provider="anthropic"}', 'omniroute_build_info{version="1.0.0"}',
                 'omniroute_provider_requests_total{provider="openai",outcome="error"}',
                 "omniroute_db_integrity_ok", "omniroute_audit_log_gap"):  # fmt: skip
        assert name in metrics, name
    assert metrics[ROUTED % "500"] == 0 and metrics["omniroute_audit_log_gap"] == 0
    health = wait_for(lambda: (h := app.get("/health")[1])["database"]["audit_rows"] >= 10 and h)
    assert health["database"]["state"] == "ok" and health["providers"]["openai"] == {"isActive": True, "up": True}


def test_omniroute_provider_outage_costs_latency_until_the_provider_is_disabled(demo, tmp_path):
    app = omniroute(demo, tmp_path, traffic_per_second=0.0)
    faults(app, provider_down="openai", provider_timeout_ms=300)
    answers = [app.request("/v1/responses", {})[0] for _ in range(4)]
    assert answers == [200] * 4, "every request fails over to anthropic"
    metrics = app.metrics()
    assert metrics[ALL_BUCKET] - metrics[FAST_BUCKET] == 2, "the two that tried openai first waited its timeout"
    assert metrics['omniroute_provider_up{provider="openai"}'] == 0
    assert app.put("/api/providers/openai", {"isActive": False})[0] == 200  # seed 001 4.1
    for _ in range(4):
        assert json.loads(app.request("/v1/responses", {})[1])["provider"] == "anthropic"
    assert app.metrics()[ALL_BUCKET] - app.metrics()[FAST_BUCKET] == 2, "p95 back within budget"
    faults(app, provider_down="")
    app.put("/api/providers/openai", {"isActive": True})
    assert {json.loads(app.request("/v1/responses", {})[1])["provider"] for _ in range(2)} == {"openai", "anthropic"}


def test_omniroute_provider_disabled_in_its_config_stays_disabled_after_a_restart(demo, tmp_path):
    app = demo()
    app.write_config({"profile": "omniroute", "traffic_per_second": 0.0,
                      "providers": {"openai": {"active": False, "broken": True}, "anthropic": {}}})  # fmt: skip
    app.start()
    assert {json.loads(app.request("/v1/responses", {})[1])["provider"] for _ in range(4)} == {"anthropic"}
    assert app.metrics()['omniroute_provider_active{provider="openai"}'] == 0


def test_omniroute_all_providers_down_is_a_502_and_errors_burn_the_budget(demo, tmp_path):
    app = omniroute(demo, tmp_path, traffic_per_second=0.0)
    faults(app, provider_down="openai", provider_timeout_ms=0)
    app.put("/api/providers/anthropic", {"isActive": False})
    assert app.request("/v1/responses", {})[0] == 502
    app.put("/api/providers/anthropic", {"isActive": True})
    faults(app, error_rate=1.0)
    assert app.request("/v1/responses", {})[0] == 500
    faults(app, error_rate=0)
    assert app.request("/v1/responses", {})[0] == 200
    metrics = app.metrics()
    assert (metrics[ROUTED % "502"], metrics[ROUTED % "500"], metrics[ROUTED % "200"]) == (1, 1, 1)


def test_omniroute_latency_regression_shows_above_the_p95_budget(demo, tmp_path):
    app = omniroute(demo, tmp_path, traffic_per_second=0.0)
    faults(app, latency_ms=250)
    app.request("/v1/responses", {})
    assert app.metrics()[FAST_BUCKET] == 0 and app.metrics()[ALL_BUCKET] == 1
    faults(app, latency_ms=0)
    app.request("/v1/responses", {})
    assert app.metrics()[FAST_BUCKET] == 1


def test_omniroute_auth_layer_broken_fails_every_request_and_empties_the_policies(demo, tmp_path):
    app = omniroute(demo, tmp_path, traffic_per_second=0.0)
    faults(app, auth_broken=True)
    assert app.request("/v1/responses", {})[0] == 500
    assert app.get("/api/settings/authz-inventory")[1] == {"policies_active": []}
    assert (
        app.metrics()['omniroute_http_requests_total{route="/api/settings/authz-inventory",method="GET",code="200"}']
        == 1
    )
    assert "authz: policies_active is empty" in app.get("/health")[1]["reasons"]
    assert app.get("/api/health/ping")[0] == 503
    faults(app, auth_broken=False)
    assert app.request("/v1/responses", {})[0] == 200 and app.get("/api/health/ping")[0] == 200


def test_omniroute_audit_log_gap_is_a_data_incident_that_switching_back_does_not_heal(demo, tmp_path):
    """Seed 001 4.4 leaves the restore to people: the missing rows stay missing."""
    app = omniroute(demo, tmp_path, traffic_per_second=0.0)
    app.request("/v1/responses", {})
    faults(app, audit_log_gap=True)
    app.request("/v1/responses", {})
    faults(app, audit_log_gap=False)
    app.request("/v1/responses", {})
    health = wait_for(lambda: (h := app.get("/health")[1])["database"]["audit_rows"] == 3 and h)
    assert health["status"] == "degraded" and health["database"]["state"] == "audit-gap"
    assert "audit log: 1 missing rows of 4" in health["reasons"]
    assert app.metrics()["omniroute_audit_log_gap"] == 1


def test_omniroute_corrupted_database_degrades_health_and_fails_writes(demo, tmp_path):
    app = omniroute(demo, tmp_path, traffic_per_second=0.0)
    app.request("/v1/responses", {})
    (tmp_path / "data" / "omniroute.db").write_bytes(b"this is not a database" * 300)
    health = wait_for(lambda: (h := app.get("/health")[1])["status"] == "degraded" and h)
    assert health["database"]["state"] == "corrupt"
    status, body = app.request("/v1/responses", {})
    assert status == 500 and json.loads(body)["result"].startswith("data layer:")
    assert app.metrics()["omniroute_db_integrity_ok"] == 0


# -- supervisor and relay (seed 002) -----------------------------------------------------------------------


def relay_and_supervisor(demo):
    relay = profile_app(demo, "relay")
    supervisor = profile_app(demo, "supervisor", relay_url=f"http://127.0.0.1:{relay.port}/ping")
    return relay, supervisor


def link(app) -> str:
    return app.get("/health")[1]["dashboard_link"]


def test_supervisor_health_has_the_runbooks_fields_and_the_link_through_the_relay(demo):
    relay, supervisor = relay_and_supervisor(demo)
    wait_for(lambda: link(supervisor) == "connected")
    health = supervisor.get("/health")[1]
    assert health["status"] == "ready" and health["children"] == {"running": 3, "failed": 0, "target_count": 3}
    assert health["restart_budget"]["tokens"] == 5 and health["uptime_secs"] >= 0
    assert [c["restart_count"] for c in health["child_runtime_records"]] == [0, 0, 0]
    wait_for(lambda: supervisor.get("/health")[1]["iterations_per_sec"] > 0)
    metrics = supervisor.metrics()
    assert metrics["supervisor_dashboard_link_connected"] == 1
    assert metrics["supervisor_control_loop_iterations_total"] > 0
    for name in ("supervisor_children_running", "supervisor_children_failed", "supervisor_restart_budget_tokens",
                 'supervisor_child_restarts_total{child="worker-1"}', "supervisor_uptime_seconds",
                 "supervisor_control_loop_iterations_per_second"):  # fmt: skip
        assert name in metrics, name
    assert relay.metrics()['relay_pings_total{outcome="success"}'] >= 1
    with open(f"/proc/{relay.proc.pid}/comm") as comm:
        assert comm.read().strip() == "relay", "pgrep -x relay finds it"


def test_dashboard_link_follows_the_relay_stopped_and_started_again(demo):
    relay, supervisor = relay_and_supervisor(demo)
    wait_for(lambda: link(supervisor) == "connected")
    relay.stop()
    wait_for(lambda: link(supervisor) == "disconnected", timeout=4)
    assert supervisor.metrics()["supervisor_dashboard_link_connected"] == 0
    assert supervisor.get("/health")[1]["status"] == "ready", "the supervisor itself is up"
    relay.start()
    wait_for(lambda: link(supervisor) == "connected", timeout=4)


def test_a_hung_relay_disconnects_the_dashboard_until_the_relay_is_restarted(demo):
    relay, supervisor = relay_and_supervisor(demo)
    wait_for(lambda: link(supervisor) == "connected")
    faults(relay, hang=True)
    wait_for(lambda: link(supervisor) == "disconnected", timeout=5)
    health = relay.get("/health")[1]
    assert health["status"] == "degraded" and health["relay"] == "hung"
    relay.stop()
    relay.start()  # a run-time fault is gone with the process
    wait_for(lambda: link(supervisor) == "connected", timeout=4)


def test_a_wedged_dashboard_ipc_needs_the_supervisor_restarted_not_the_relay(demo):
    relay, supervisor = relay_and_supervisor(demo)
    wait_for(lambda: link(supervisor) == "connected")
    faults(supervisor, dashboard_ipc_wedged=True)
    assert link(supervisor) == "disconnected"
    relay.stop()
    relay.start()
    time.sleep(1.0)
    assert link(supervisor) == "disconnected", "restarting the relay does not help (P1-003 step 3)"
    supervisor.stop()
    supervisor.start()  # P1-003 step 4
    wait_for(lambda: link(supervisor) == "connected", timeout=4)


def test_runtime_starvation_stalls_the_control_loop_until_reverted(demo):
    _, supervisor = relay_and_supervisor(demo)
    wait_for(lambda: supervisor.get("/health")[1]["iterations_per_sec"] > 0)
    faults(supervisor, control_loop_stall=True)
    time.sleep(0.3)
    stalled = supervisor.get("/health")[1]
    assert stalled["iterations_per_sec"] == 0 and stalled["status"] == "ready"
    assert not grows(supervisor, "supervisor_control_loop_iterations_total", 0.3)
    faults(supervisor, control_loop_stall=False)
    wait_for(lambda: supervisor.get("/health")[1]["iterations_per_sec"] > 0)


def test_a_child_crash_loop_spends_the_budget_and_the_child_stays_quarantined(demo):
    """P1-002 leaves the faulty child spec to a human (remove_child): switching the fault off heals nothing."""
    _, supervisor = relay_and_supervisor(demo)
    faults(supervisor, child_crash_loop=True)
    health = wait_for(lambda: (h := supervisor.get("/health")[1])["restart_budget"]["tokens"] == 0 and h)
    child = health["child_runtime_records"][0]
    assert (child["state"], child["restart_count"]) == ("quarantined", 5)
    assert health["children"] == {"running": 2, "failed": 1, "target_count": 3}
    assert supervisor.metrics()['supervisor_child_restarts_total{child="worker-1"}'] == 5
    assert supervisor.metrics()["supervisor_children_failed"] == 1
    faults(supervisor, child_crash_loop=False)
    time.sleep(0.3)
    assert supervisor.get("/health")[1]["child_runtime_records"][0]["state"] == "quarantined"


# -- genesis (seed 003) ------------------------------------------------------------------------------------

P95_BUCKET = 'genesis_operation_duration_seconds_bucket{le="0.2"}'
ALL_OPS = 'genesis_operation_duration_seconds_bucket{le="+Inf"}'


def test_genesis_exposes_its_metrics_health_fields_and_a_health_check_command(demo):
    app = profile_app(demo, "genesis")
    wait_for(lambda: app.metrics()[ALL_OPS] >= 5)
    metrics = app.metrics()
    for name in ('genesis_errors_total{category="validation"}', "genesis_llm_errors_total",
                 'genesis_operations_total{outcome="success"}', "genesis_operation_duration_seconds_count",
                 "genesis_htdag_decomposition_duration_seconds_sum", "genesis_halo_routing_duration_seconds_count",
                 "genesis_aop_validation_duration_seconds_sum", 'genesis_build_info{version="1.0.0"}'):  # fmt: skip
        assert name in metrics, name
    assert (metrics["genesis_test_pass_rate"], metrics["genesis_tests_total_total"]) == (1, 1044)
    health = app.get("/health")[1]
    assert (health["circuit_breaker"], health["llm"]) == ("closed", {"enabled": True, "fallback_mode": "none"})
    assert health["halo_optimizations"]["rule_indexing"] is True
    result = app.command("health-check")
    assert result.returncode == 0 and json.loads(result.stdout)["status"] == "ready"


def test_genesis_health_check_command_fails_when_the_service_is_not_ready_or_down(demo):
    app = demo(version="2.0.0", faults={"never_ready": True})
    app.write_config({"profile": "genesis"})
    app.start()
    result = app.command("health-check")
    assert result.returncode == 1 and json.loads(result.stdout)["status"] == "starting"
    app.stop()
    result = app.command("health-check")
    assert result.returncode == 1 and "health check:" in result.stdout


def test_genesis_errors_by_category_open_the_circuit_breaker_until_reverted(demo):
    app = profile_app(demo, "genesis")
    faults(app, error_rate=1.0, error_category="routing")
    wait_for(lambda: app.get("/health")[1]["circuit_breaker"] == "open")
    assert app.metrics()['genesis_errors_total{category="routing"}'] >= 5
    faults(app, error_rate=0)
    wait_for(lambda: app.get("/health")[1]["circuit_breaker"] == "closed")
    assert not grows(app, 'genesis_errors_total{category="routing"}', 0.3)


def test_genesis_llm_errors_stop_when_the_config_disables_the_llm(demo):
    """Seed 003 HighErrorRate scenario A: llm.enabled false, fallback heuristic, restart (a config_change)."""
    app = profile_app(demo, "genesis")
    faults(app, llm_error_rate=1.0)
    wait_for(lambda: app.metrics().get('genesis_errors_total{category="llm"}', 0) >= 3)
    app.stop()
    app.write_config({"profile": "genesis", **FAST, "faults": {"llm_error_rate": 1.0},
                      "llm": {"enabled": False, "fallback_mode": "heuristic"}})  # fmt: skip
    assert app.command("check-config").returncode == 0
    app.start()
    wait_for(lambda: app.metrics()['genesis_operations_total{outcome="success"}'] >= 5)
    assert app.metrics()["genesis_llm_errors_total"] == 0
    assert app.get("/health")[1]["llm"] == {"enabled": False, "fallback_mode": "heuristic"}
    app.stop()
    app.config_path.write_text("profile: genesis\nllm:\n  enabled: maybe\n")
    result = app.command("check-config")
    assert result.returncode == 78 and "llm.enabled: expected bool" in result.stderr


def test_genesis_latency_puts_the_p95_above_200_ms_until_reverted(demo):
    app = profile_app(demo, "genesis", traffic_per_second=0.0)
    faults(app, latency_ms=250)
    app.request("/")
    assert (app.metrics()[P95_BUCKET], app.metrics()[ALL_OPS]) == (0, 1)
    assert app.metrics()["genesis_htdag_decomposition_duration_seconds_sum"] >= 0.12
    faults(app, latency_ms=0)
    app.request("/")
    assert app.metrics()[P95_BUCKET] == 1


def test_genesis_slow_decomposition_is_cured_by_the_htdag_cache_in_the_config(demo):
    """Seed 003 HighLatencyP95 scenario A: htdag.cache_enabled true (+ restart), as the pack's config_change."""
    app = profile_app(demo, "genesis", traffic_per_second=0.0)
    faults(app, decomposition_slow_ms=250)
    app.request("/")
    assert (app.metrics()[P95_BUCKET], app.metrics()[ALL_OPS]) == (0, 1)
    assert app.get("/health")[1]["htdag"] == {"cache_enabled": False, "cache_ttl_seconds": 3600}
    app.stop()
    settings = {"htdag": {"cache_enabled": True, "cache_ttl_seconds": 3600},
                "halo": {"rule_indexing": True, "agent_pool_enabled": True, "batch_routing": True}}  # fmt: skip
    app.write_config({"profile": "genesis", "traffic_per_second": 0.0, "faults": {"decomposition_slow_ms": 250},
                      **settings})  # fmt: skip
    app.start()
    app.request("/")
    assert app.metrics()[P95_BUCKET] == 1, "cached decompositions: within 200 ms"
    assert app.get("/health")[1]["halo_optimizations"] == settings["halo"]


def test_genesis_test_pass_rate_is_switchable(demo):
    app = profile_app(demo, "genesis")
    faults(app, test_pass_rate=0.9)
    metrics = app.metrics()
    assert (metrics["genesis_test_pass_rate"], metrics["genesis_tests_passed_total"]) == (0.9, 940)
    assert app.get("/health")[1]["status"] == "ready", "a failing suite is not a down service"
    faults(app, test_pass_rate=1.0)
    assert app.metrics()["genesis_test_pass_rate"] == 1


# -- the packs (inventories/<system>/) read what the profiles expose -----------------------------------------

PACKS = Path(__file__).resolve().parents[3] / "inventories"
METRIC = re.compile(r"\b((?:oneiric|omniroute|supervisor|genesis)_[a-z0-9_]+)(\{[^}]*\})?")
EQUALS = re.compile(r'([a-z_]+)\s*=\s*"([^"]*)"')
JINJA = re.compile(r"\{\{.*?\}\}")  # the service description's own variables ({{ oneiric_instance }})


def pack_queries(system: str) -> list[str]:
    """Every PromQL expression of a pack: its rules' expr and every *query of its service description."""
    rules = yaml.safe_load((PACKS / system / "prometheus" / "rules.yml").read_text())
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and str(key).endswith("query"):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((PACKS / system / "group_vars" / f"{system}.yml").read_text()))
    return found


@pytest.mark.parametrize(("system", "config"), [
    ("oneiric", {}), ("omniroute", {}), ("genesis", {}), ("supervisor", {"relay_url": "http://127.0.0.1:9/ping"}),
])  # fmt: skip
def test_every_metric_and_label_value_a_pack_queries_is_one_its_profile_exposes(demo, tmp_path, system, config):
    """The names in inventories/<system>/ (rules and service description) against the running profile:
    a series of that name, and of that value for each label matched by equality (instance and job are
    Prometheus'); a rename on either side fails here."""
    app = profile_app(demo, system, **config, **({"data_dir": str(tmp_path / "d")} if system == "omniroute" else {}))
    time.sleep(0.3)
    exposed = app.metrics()
    wanted = {(m.group(1), label, value) for query in pack_queries(system)
              for m in METRIC.finditer(JINJA.sub('""', query))
              for label, value in [("", ""), *EQUALS.findall(m.group(2) or "")]
              if label not in ("instance", "job")}  # fmt: skip
    assert {name for name, _, _ in wanted}, f"no {system}_* metric found in the pack"
    missing = sorted(
        (name, label, value) for name, label, value in wanted
        if not any(series.split("{")[0] == name and (not label or f'{label}="{value}"' in series) for series in exposed)
    )  # fmt: skip
    assert missing == [], missing
