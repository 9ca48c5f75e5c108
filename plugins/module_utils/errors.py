# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the collection's module_utils: each carries a message an operator can act on."""

from __future__ import annotations


class RemediationError(Exception):
    """Base of every error raised by this collection's module_utils."""


class TransportError(RemediationError):
    """The server could not be reached or did not answer in time."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class ApiError(RemediationError):
    """The server answered, but with an error status or an unusable body."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        self.url = url
        self.status = status
        self.detail = detail
        super().__init__(f"{url} answered HTTP {status}: {detail}" if status else f"{url}: {detail}")


class ManifestError(RemediationError):
    """A digest manifest cannot be read, or names a path it must not."""
