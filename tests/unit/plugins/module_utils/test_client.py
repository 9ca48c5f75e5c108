"""HttpClient: every way of not getting a whole answer is a TransportError, never another exception."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient
from ansible_collections.incident.remediation.plugins.module_utils.errors import TransportError


def test_an_answer_shorter_than_its_content_length_is_a_transport_error(short_answer):
    with pytest.raises(TransportError) as error:
        HttpClient(timeout=5).request("GET", short_answer)
    assert error.value.url == short_answer
    assert "incomplete answer" in error.value.reason and "10 bytes read, 90 more expected" in error.value.reason


def test_an_error_status_with_a_short_body_is_a_transport_error(short_answer):
    url = short_answer.replace("/health", "/500")  # a 500 whose body is cut short: read in the HTTPError branch
    with pytest.raises(TransportError) as error:
        HttpClient(timeout=5).request("GET", url)
    assert "incomplete answer" in error.value.reason
