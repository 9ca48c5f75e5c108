"""module_utils/errors.py: the messages of the typed errors show no URL credentials."""

from __future__ import annotations

from ansible_collections.incident.remediation.plugins.module_utils.errors import ApiError, TransportError

URL = "http://ops:hunter2-4f0a@prometheus.internal.test:9090/api/v1/query"
SHOWN = "http://***@prometheus.internal.test:9090/api/v1/query"


def test_a_transport_error_names_the_url_without_its_credentials():
    error = TransportError(URL, "connection refused")
    assert str(error) == f"cannot reach {SHOWN}: connection refused"
    assert error.url == SHOWN, "the url kept on the error is redacted too (modules put it in messages)"


def test_an_api_error_names_the_url_without_its_credentials():
    assert str(ApiError(URL, 503, "unavailable")) == f"{SHOWN} answered HTTP 503: unavailable"
    assert str(ApiError(URL, 0, "not JSON")) == f"{SHOWN}: not JSON"
    assert ApiError(URL, 503, "x").url == SHOWN


def test_a_reason_or_detail_that_quotes_a_url_is_redacted_too():
    # urllib's reason can quote the URL (a redirect to one with credentials); a body can echo it
    assert "hunter2" not in str(TransportError("http://h/", f"redirected to {URL}"))
    assert "hunter2" not in str(ApiError("http://h/", 500, f"bad upstream {URL}"))
