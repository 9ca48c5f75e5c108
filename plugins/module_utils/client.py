# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP transport shared by the modules: no AnsibleModule here, typed errors out.

Every HTTP status comes back as a Response (a health check wants to see a 503);
a failure to get a whole answer (refused, reset, timed out, a body shorter than its
Content-Length, a malformed status line) raises TransportError, never anything else. ``call_json`` is
the API flavour: non-2xx answers and bodies that are not JSON raise ApiError with
the server's own error text.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url
from ansible_collections.incident.remediation.plugins.module_utils.errors import ApiError, TransportError

MAX_DETAIL = 500


@dataclass
class Response:
    url: str
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.text)


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    if isinstance(inner, BaseException):
        exc = inner
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.IncompleteRead):
        expected = f", {exc.expected} more expected" if exc.expected is not None else ""
        return f"incomplete answer ({len(exc.partial)} bytes read{expected}): the server closed the connection early"
    if isinstance(exc, http.client.HTTPException):
        return f"malformed answer: {type(exc).__name__}: {exc}"
    return str(inner if isinstance(inner, str) else exc) or type(exc).__name__


class HttpClient:
    """A small HTTP client with one set of connection options."""

    def __init__(
        self,
        timeout: float = 10,
        validate_certs: bool = True,
        ca_path: str | None = None,
        headers: dict | None = None,
        follow_redirects: bool = True,
    ) -> None:
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.headers = dict(headers or {})
        self.follow_redirects = follow_redirects

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> Response:
        merged = {**self.headers, **(headers or {})}
        try:
            answer = open_url(
                url,
                data=body,
                method=method,
                headers=merged,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                ca_path=self.ca_path,
                follow_redirects="urllib2" if self.follow_redirects else "none",
            )
            return Response(url, answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as exc:
            try:
                return Response(url, exc.code, exc.read() if exc.fp else b"", dict(exc.headers or {}))
            except (http.client.HTTPException, OSError, ValueError) as inner:  # the error's body cut short
                raise TransportError(url, _reason(inner)) from inner
        # every way of not getting a whole answer (refused, reset, cut short, malformed) is one typed error
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise TransportError(url, _reason(exc)) from exc

    def call_json(self, method: str, url: str, payload=None, query: dict | list | None = None):
        """Call a JSON API: the decoded body of a 2xx answer, else ApiError."""
        if query:
            url = f"{url}?{urlencode(query, doseq=True)}"
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.request(method, url, body, headers)
        if not 200 <= response.status < 300:
            raise ApiError(url, response.status, error_detail(response))
        if not response.body:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(url, response.status, f"answer is not JSON: {response.text[:MAX_DETAIL]!r}") from exc


def error_detail(response: Response) -> str:
    """The server's own words for an error: a JSON ``error`` (with its type), or the body text."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:MAX_DETAIL] or "(empty body)"
    if isinstance(data, dict) and data.get("error"):
        kind = data.get("errorType")
        return f"{kind}: {data['error']}" if kind else str(data["error"])
    return json.dumps(data)[:MAX_DETAIL]
