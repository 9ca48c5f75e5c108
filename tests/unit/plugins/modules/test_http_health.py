"""http_health against pytest-httpserver: answers, waits, and the failures an operator must understand."""

from __future__ import annotations

import json
import ssl
import subprocess
import time

import pytest
from ansible_collections.incident.remediation.plugins.modules import http_health
from pytest_httpserver import HTTPServer
from werkzeug import Response


def test_ready_on_first_answer(httpserver, run_module):
    httpserver.expect_request("/health").respond_with_json({"status": "ready", "version": "1.0.0"})
    failed, result = run_module(http_health, {"url": httpserver.url_for("/health"), "expect_json": {"status": "ready"}})
    assert not failed
    assert result["healthy"] is True
    assert (result["status"], result["attempts"], result["error"]) == (200, 1, "")
    assert result["json"]["version"] == "1.0.0"
    assert result["changed"] is False


def test_waits_until_ready(httpserver, run_module):
    answers = iter([(503, "starting"), (503, "starting")])

    def handler(_request):
        code, status = next(answers, (200, "ready"))
        return Response(json.dumps({"status": status}), status=code, content_type="application/json")

    httpserver.expect_request("/health").respond_with_handler(handler)
    failed, result = run_module(
        http_health,
        {
            "url": httpserver.url_for("/health"),
            "expect_json": {"status": "ready"},
            "wait": 5,
            "interval": 0.05,
        },
    )
    assert not failed
    assert result["attempts"] == 3


def test_deadline_message_says_what_was_expected_and_seen(httpserver, run_module):
    httpserver.expect_request("/health").respond_with_json({"status": "starting"}, status=503)
    failed, result = run_module(
        http_health,
        {
            "url": httpserver.url_for("/health"),
            "expect_json": {"status": "ready"},
            "wait": 0.3,
            "interval": 0.1,
        },
    )
    assert failed
    assert result["healthy"] is False
    assert result["attempts"] >= 2
    assert "not healthy after" in result["msg"]
    assert 'expected HTTP 200, status = "ready"' in result["msg"]
    assert 'last seen: HTTP 503 (expected 200); status = "starting" (expected "ready")' in result["msg"]


def test_fail_unhealthy_false_returns_the_verdict(httpserver, run_module):
    httpserver.expect_request("/health").respond_with_json({"status": "degraded"}, status=503)
    failed, result = run_module(http_health, {"url": httpserver.url_for("/health"), "wait": 0, "fail_unhealthy": False})
    assert not failed
    assert (result["healthy"], result["status"]) == (False, 503)


def test_invalid_json_is_reported(httpserver, run_module):
    httpserver.expect_request("/health").respond_with_data("<html>oops</html>", content_type="text/html")
    failed, result = run_module(
        http_health, {"url": httpserver.url_for("/health"), "expect_json": {"status": "ready"}, "wait": 0}
    )
    assert failed
    assert "body is not JSON" in result["msg"]
    assert result["json"] is None and "oops" in result["body"]


def test_server_error_500(httpserver, run_module):
    httpserver.expect_request("/health").respond_with_data("boom", status=500)
    failed, result = run_module(http_health, {"url": httpserver.url_for("/health"), "wait": 0})
    assert failed and result["status"] == 500
    assert "HTTP 500 (expected 200)" in result["msg"]


def test_timeout_per_request(httpserver, run_module):
    def slow(_request):
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/health").respond_with_handler(slow)
    failed, result = run_module(http_health, {"url": httpserver.url_for("/health"), "wait": 0, "timeout": 0.2})
    assert failed
    assert result["status"] == -1
    assert result["error"] == "timed out"


def test_connection_refused_is_unhealthy_not_an_exception(run_module):
    failed, result = run_module(http_health, {"url": "http://127.0.0.1:9/health", "wait": 0})
    assert failed
    assert result["status"] == -1 and "refused" in result["error"]


@pytest.mark.parametrize(("follow", "status"), [(True, 200), (False, 302)])
def test_redirects(httpserver, run_module, follow, status):
    httpserver.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/health"})
    httpserver.expect_request("/health").respond_with_json({"status": "ready"})
    failed, result = run_module(
        http_health,
        {"url": httpserver.url_for("/old"), "follow_redirects": follow, "status_code": [200, 302], "wait": 0},
    )
    assert not failed
    assert result["status"] == status


def test_body_regex_and_nested_fields_and_headers(httpserver, run_module):
    httpserver.expect_request("/status", headers={"X-Probe": "remediation"}).respond_with_json(
        {"checks": {"db": {"state": "up"}}, "items": [{"replicas": 3}], "version": "2.4.1"}
    )
    failed, result = run_module(
        http_health,
        {
            "url": httpserver.url_for("/status"),
            "headers": {"X-Probe": "remediation"},
            "expect_json": {"checks.db.state": "up", "items.0.replicas": "3"},
            "body_regex": r'"version": "2\.',
            "wait": 0,
        },
    )
    assert not failed, result


def test_invalid_regex_is_an_argument_error(run_module):
    failed, result = run_module(http_health, {"url": "http://127.0.0.1:9/", "body_regex": "("})
    assert failed and "body_regex is not a valid regular expression" in result["msg"]


def test_negative_wait_is_refused(run_module):
    failed, result = run_module(http_health, {"url": "http://127.0.0.1:9/", "wait": -1})
    assert failed and result["msg"] == "wait must be >= 0, got -1.0"


def test_check_mode_polls_as_usual(httpserver, run_module):
    httpserver.expect_request("/health").respond_with_json({"status": "ready"})
    failed, result = run_module(http_health, {"url": httpserver.url_for("/health")}, check_mode=True)
    assert not failed and result["healthy"] and result["changed"] is False
    assert len(httpserver.log) == 1


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(self_signed):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    server = HTTPServer(ssl_context=context)
    server.start()
    server.expect_request("/health").respond_with_json({"status": "ready"})
    yield server
    server.clear()
    server.stop()


def test_tls_self_signed_is_refused_by_default(tls_server, run_module):
    failed, result = run_module(http_health, {"url": tls_server.url_for("/health"), "wait": 0})
    assert failed
    assert result["status"] == -1
    assert "CERTIFICATE_VERIFY_FAILED" in result["error"] or "certificate" in result["error"].lower()


def test_tls_with_ca_path_or_without_validation(tls_server, self_signed, run_module):
    url = tls_server.url_for("/health")
    assert not run_module(http_health, {"url": url, "wait": 0, "ca_path": str(self_signed[0])})[0]
    assert not run_module(http_health, {"url": url, "wait": 0, "validate_certs": False})[0]


def test_an_answer_cut_short_is_unhealthy_not_an_exception(short_answer, run_module):
    failed, result = run_module(http_health, {"url": short_answer, "expect_json": {"status": "ready"}, "wait": 0})
    assert failed and result["healthy"] is False and result["status"] == -1
    assert "incomplete answer" in result["error"]
