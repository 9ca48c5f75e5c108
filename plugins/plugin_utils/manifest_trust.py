# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a cache manifest can be trusted, decided on the controller (seed 000, runbooks 3B and 4C).

Two ways, either or both: an Ed25519 signature of the manifest's bytes checked with the operator's public
key, and a trusted copy of the manifest fetched from a configured URL, compared by digest. Everything read
here is data: a manifest, a signature, the URL's answer are bytes that are compared, never parsed as more.

Two kinds of "no": ``TrustError`` when the check cannot be made (the key unreadable, the trusted copy not
fetched): a refusal, nothing done, never a pass; a ``verdict`` with ``ok`` false when the check was made and
failed (a bad or missing signature, a copy that differs): suspected tampering (outcome ``security``).

Controller only: ``cryptography`` comes with ansible-core on the controller, not on the managed hosts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable

from ansible.module_utils.urls import open_url
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
# The trusted copy is a manifest, not a download: more than this is not one.
MAX_TRUSTED_BYTES = 16 * 1024 * 1024


class TrustError(Exception):
    """The manifest's trust could not be checked: refuse, never pass."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verdict(ok: bool, method: str, reason: str) -> dict:
    return {"ok": ok, "method": method, "reason": reason}


def _base64(text: bytes) -> bytes | None:
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def load_public_key(data: bytes, where: str = "the public key"):
    """An Ed25519 public key from PEM (``BEGIN PUBLIC KEY``) or the base64 of its 32 raw bytes."""
    if b"-----BEGIN" in data:
        try:
            key = load_pem_public_key(data)
        except ValueError as exc:
            raise TrustError(f"{where} is not a readable PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise TrustError(f"{where} is a {type(key).__name__.lstrip('_')}, not an Ed25519 public key")
        return key
    raw = _base64(data.strip())
    if raw is None or len(raw) != PUBLIC_KEY_BYTES:
        raise TrustError(f"{where} is neither a PEM public key nor the base64 of 32 raw Ed25519 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def decode_signature(data: bytes) -> bytes | None:
    """The 64 signature bytes, raw or base64 text; None when it is neither (a bad signature, not an error)."""
    if len(data) == SIGNATURE_BYTES:
        return data
    raw = _base64(data.strip())
    return raw if raw is not None and len(raw) == SIGNATURE_BYTES else None


def check_signature(manifest: bytes, signature: bytes | None, public_key: bytes, where: str = "the manifest") -> dict:
    """The verdict of ``signature`` (None: there is none) over ``manifest``'s bytes with ``public_key``.

    TrustError when the key cannot be used; a missing, malformed or wrong signature is a failed verdict.
    """
    key = load_public_key(public_key)
    if signature is None:
        return _verdict(False, "signature", f"{where} is not signed, and a public key is configured")
    raw = decode_signature(signature)
    if raw is None:
        return _verdict(False, "signature", f"the signature of {where} is not an Ed25519 signature (64 bytes)")
    try:
        key.verify(raw, manifest)
    except InvalidSignature:
        return _verdict(
            False, "signature", f"the Ed25519 signature of {where} does not verify with the configured public key"
        )
    return _verdict(True, "signature", f"the Ed25519 signature of {where} verifies")


def check_trusted_copy(manifest: bytes, trusted: bytes, url: str, where: str = "the manifest") -> dict:
    """The verdict of comparing ``manifest`` with the trusted copy fetched from ``url``, by sha256."""
    mine, theirs = sha256(manifest), sha256(trusted)
    if mine != theirs:
        return _verdict(False, "trusted_copy", f"{where} (sha256 {mine}) differs from the trusted copy at {url} "
                        f"(sha256 {theirs})")  # fmt: skip
    return _verdict(True, "trusted_copy", f"{where} matches the trusted copy at {url} (sha256 {mine})")


def fetch_trusted(url: str, timeout: float, opener: Callable | None = None, limit: int = MAX_TRUSTED_BYTES) -> bytes:
    """The bytes at ``url`` within ``timeout`` seconds; TrustError when they cannot be had (never a pass)."""
    if not url.startswith(("https://", "http://")):
        raise TrustError(f"the trusted manifest URL must be http:// or https://, got {url!r}")
    opener = opener or open_url
    try:
        answer = opener(url, timeout=timeout, follow_redirects="safe", validate_certs=True)
        body = answer.read(limit + 1)
    except Exception as exc:  # urllib, ssl, socket and HTTP errors alike: the copy is not had
        raise TrustError(f"the trusted copy of the manifest could not be fetched from {url}: {exc}") from exc
    if len(body) > limit:
        raise TrustError(f"the trusted copy at {url} is bigger than {limit} bytes: not a manifest")
    return body


def verify_manifest(
    manifest: bytes,
    *,
    public_key: bytes | None = None,
    signature: bytes | None = None,
    trusted: bytes | None = None,
    url: str = "",
    where: str = "the manifest",
) -> dict:
    """Every configured check of ``manifest`` (the signature, the trusted copy): ok only when each passes.

    ``{ok, sha256, checks: [verdict...], reason}``; the reason is the first failure's, or all that passed.
    """
    checks = []
    if public_key is not None:
        checks.append(check_signature(manifest, signature, public_key, where))
    if trusted is not None:
        checks.append(check_trusted_copy(manifest, trusted, url, where))
    if not checks:
        raise TrustError("no way to verify the manifest is configured (a public key, or a trusted URL)")
    failed = [check for check in checks if not check["ok"]]
    reason = failed[0]["reason"] if failed else "; ".join(check["reason"] for check in checks)
    return {"ok": not failed, "sha256": sha256(manifest), "checks": checks, "reason": reason}
