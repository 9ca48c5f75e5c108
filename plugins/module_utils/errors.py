# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the collection's module_utils: each carries a message an operator can act on.

This is the one place module messages about a server are made, so URL credentials are redacted here
(``http://user:pass@host`` is shown ``http://***@host``): the URL kept on the error, its reason and detail
(urllib can quote a URL in a reason, a server can echo one in a body) and the message.
"""

from __future__ import annotations

from ansible_collections.incident.remediation.plugins.module_utils.text import redact_userinfo


class RemediationError(Exception):
    """Base of every error raised by this collection's module_utils."""


class TransportError(RemediationError):
    """The server could not be reached or did not answer in time."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_userinfo(url)
        self.reason = redact_userinfo(reason)
        super().__init__(f"cannot reach {self.url}: {self.reason}")


class ApiError(RemediationError):
    """The server answered, but with an error status or an unusable body."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        self.url = redact_userinfo(url)
        self.status = status
        self.detail = redact_userinfo(detail)
        shown = f"{self.url} answered HTTP {status}" if status else self.url
        super().__init__(f"{shown}: {self.detail}")


class ManifestError(RemediationError):
    """A digest manifest cannot be read, or names a path it must not."""
