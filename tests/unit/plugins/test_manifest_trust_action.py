"""manifest_trust and cache_fleet (action plugins) through a real ansible-playbook: what the cache purge reads.

The manifest and its signature are read through the host's connection (here the local one); a check that was made
and failed is a verdict (ok false, not failed), one that could not be made fails with a refusal.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MANIFEST = b"a" * 64 + b"  artifact-01.bin\n"


def signed(tmp_path):
    key = Ed25519PrivateKey.generate()
    (tmp_path / "signing.pub").write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "manifest.sha256").write_bytes(MANIFEST)
    (tmp_path / "manifest.sha256.sig").write_bytes(key.sign(MANIFEST))
    return {"manifest": str(tmp_path / "manifest.sha256"), "public_key": str(tmp_path / "signing.pub")}


def test_a_good_a_missing_and_a_bad_signature(tmp_path, ansible_task):
    given = signed(tmp_path)
    good, missing, bad = ansible_task([
        {"incident.remediation.manifest_trust": given},
        {"incident.remediation.manifest_trust": {**given, "signature": str(tmp_path / "none.sig")}},
        {"incident.remediation.manifest_trust": {**given, "signature": given["public_key"]}},
    ], check=True)  # fmt: skip
    assert good["ok"] is True and not good.get("failed") and good["signature"] == given["manifest"] + ".sig"
    assert missing["ok"] is False and not missing.get("failed") and "is not signed" in missing["reason"]
    assert bad["ok"] is False and not bad.get("failed") and "is not an Ed25519 signature" in bad["reason"]


def test_a_check_that_cannot_be_made_refuses_and_nothing_configured_checks_nothing(tmp_path, ansible_task):
    given = signed(tmp_path)
    no_key, no_copy, nothing = ansible_task([
        {"incident.remediation.manifest_trust": {**given, "public_key": str(tmp_path / "absent.pub")}},
        {"incident.remediation.manifest_trust": {"manifest": given["manifest"],
                                                 "trusted_url": "http://user:secret@127.0.0.1:9/m", "timeout": 2}},
        {"incident.remediation.manifest_trust": {"manifest": given["manifest"]}},
    ])  # fmt: skip
    assert no_key["failed"] and no_key["ok"] is None
    assert no_key["msg"].startswith("refusing, nothing changed: the public key") and "cannot be read" in no_key["msg"]
    assert no_copy["failed"] and "could not be fetched" in no_copy["msg"] and "secret" not in no_copy["msg"]
    assert nothing["configured"] is False and nothing["ok"] is None and not nothing.get("failed")


def test_cache_fleet_decides_for_the_reports_given(ansible_task):
    report = {"token": "t", "group": "g", "group_hosts": ["a", "b"], "clean": False, "corrupted": ["x.bin"],
              "unexpected": [], "manifest": {"ok": None}}  # fmt: skip
    [decided] = ansible_task([
        {"incident.remediation.cache_fleet": {"reports": {"a": report, "b": report}, "token": "t", "threshold": 1}},
    ])  # fmt: skip
    assert decided["security"] and decided["stop"] == ["a", "b"] and decided["archive"] == []
    assert (
        decided["msg"] == "2 corrupted or unexpected artifacts across 2 host(s) of g, more than 1: suspected tampering"
    )
