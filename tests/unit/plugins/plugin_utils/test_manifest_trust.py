"""The manifest's trust (seed 000, runbooks 3B and 4C): an Ed25519 signature, a trusted copy by digest.

Keys are made here with cryptography; the trusted copy is served by a real HTTP server on loopback.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator

import pytest
from ansible_collections.incident.remediation.plugins.plugin_utils.manifest_trust import (
    TrustError,
    check_signature,
    fetch_trusted,
    load_public_key,
    sha256,
    verify_manifest,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MANIFEST = b"a" * 64 + b"  artifact-01.bin\n" + b"b" * 64 + b"  artifact-02.bin\n"


def pem(private) -> bytes:
    return private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def signer():
    return Ed25519PrivateKey.generate()


def test_a_good_signature_verifies(signer):
    verdict = check_signature(MANIFEST, signer.sign(MANIFEST), pem(signer))
    assert verdict == {"ok": True, "method": "signature", "reason": "the Ed25519 signature of the manifest verifies"}


def test_a_signature_in_base64_and_a_raw_base64_key_verify_too(signer):
    raw_key = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = base64.b64encode(signer.sign(MANIFEST)) + b"\n"
    assert check_signature(MANIFEST, signature, base64.b64encode(raw_key) + b"\n")["ok"]


def test_a_manifest_changed_after_signing_fails(signer):
    verdict = check_signature(MANIFEST + b"c" * 64 + b"  evil.bin\n", signer.sign(MANIFEST), pem(signer))
    assert not verdict["ok"]
    assert verdict["reason"] == "the Ed25519 signature of the manifest does not verify with the configured public key"


def test_a_signature_made_with_another_key_fails(signer):
    other = Ed25519PrivateKey.generate()
    assert not check_signature(MANIFEST, other.sign(MANIFEST), pem(signer))["ok"]


def test_a_missing_signature_fails_when_a_key_is_configured(signer):
    verdict = check_signature(MANIFEST, None, pem(signer), where="/var/cache/demo-app/manifest.sha256 on web1")
    assert not verdict["ok"]
    assert (
        verdict["reason"] == "/var/cache/demo-app/manifest.sha256 on web1 is not signed, and a public key is configured"
    )


@pytest.mark.parametrize("signature", [b"", b"not a signature", b"A" * 20, base64.b64encode(b"x" * 63)])
def test_a_malformed_signature_fails_it_is_no_error(signer, signature):
    verdict = check_signature(MANIFEST, signature, pem(signer))
    assert not verdict["ok"] and "is not an Ed25519 signature" in verdict["reason"]


def test_a_key_that_cannot_be_used_is_an_error_not_a_verdict(signer):
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TrustError, match="RSAPublicKey, not an Ed25519 public key"):
        load_public_key(pem(rsa))
    with pytest.raises(TrustError, match="neither a PEM public key nor the base64 of 32 raw"):
        check_signature(MANIFEST, signer.sign(MANIFEST), b"ssh-rsa AAAA")
    with pytest.raises(TrustError, match="not a readable PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


class Served:
    """A loopback HTTP server answering every GET with ``body`` (or ``status``), or never answering."""

    def __init__(self) -> None:
        self.body, self.status, self.hang = MANIFEST, 200, False
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if served.hang:
                    threading.Event().wait(3)
                    return
                self.send_response(served.status)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oneiric/manifest.sha256"


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_manifest_matching_the_trusted_copy_verifies(served):
    verdict = verify_manifest(MANIFEST, trusted=fetch_trusted(served.url, 2), url=served.url)
    assert verdict["ok"] and verdict["sha256"] == sha256(MANIFEST)
    said = f"the manifest matches the trusted copy at {served.url} (sha256 {sha256(MANIFEST)})"
    assert verdict["checks"] == [{"ok": True, "method": "trusted_copy", "reason": said}]


def test_a_manifest_differing_from_the_trusted_copy_fails(served):
    served.body = MANIFEST.replace(b"b" * 64, b"c" * 64)
    verdict = verify_manifest(MANIFEST, trusted=fetch_trusted(served.url, 2), url=served.url)
    assert not verdict["ok"]
    assert verdict["reason"] == (f"the manifest (sha256 {sha256(MANIFEST)}) differs from the trusted copy at "
                                 f"{served.url} (sha256 {sha256(served.body)})")  # fmt: skip


def test_a_trusted_copy_not_fetched_is_a_refusal_never_a_pass(served):
    served.status = 503
    with pytest.raises(TrustError, match=r"could not be fetched from .*503"):
        fetch_trusted(served.url, 2)
    served.status, served.hang = 200, True
    with pytest.raises(TrustError, match=r"could not be fetched from .*timed out"):
        fetch_trusted(served.url, 0.5)
    with pytest.raises(TrustError, match=r"could not be fetched from http://127\.0\.0\.1:9/"):
        fetch_trusted("http://127.0.0.1:9/manifest", 1)
    with pytest.raises(TrustError, match="must be http:// or https://"):
        fetch_trusted("file:///etc/passwd", 1)


def test_a_trusted_copy_too_big_is_no_manifest(served):
    with pytest.raises(TrustError, match="bigger than 100 bytes"):
        fetch_trusted(served.url, 2, limit=100)


def test_both_configured_both_must_pass(signer, served):
    good = verify_manifest(MANIFEST, public_key=pem(signer), signature=signer.sign(MANIFEST),
                           trusted=MANIFEST, url=served.url)  # fmt: skip
    assert good["ok"] and [c["method"] for c in good["checks"]] == ["signature", "trusted_copy"]
    bad = verify_manifest(MANIFEST, public_key=pem(signer), signature=signer.sign(MANIFEST),
                          trusted=b"other", url=served.url)  # fmt: skip
    assert not bad["ok"] and "differs from the trusted copy" in bad["reason"]


def test_nothing_configured_is_no_pass():
    with pytest.raises(TrustError, match="no way to verify the manifest is configured"):
        verify_manifest(MANIFEST)
