"""After the purges: every artifact matches, the service is ready, evidence is on the controller."""

import hashlib
import json
import os
import tarfile
from pathlib import Path

EVIDENCE = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "evidence"


def test_cache_matches_its_manifest(host):
    assert host.run("cd /var/cache/demo-app && sha256sum --check --quiet manifest.sha256").rc == 0


def test_service_is_ready(host):
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert health["status"] == "ready" and health["reasons"] == []


def evidence(incident):
    (folder,) = (EVIDENCE / incident).iterdir()
    archive = folder / "cache.tar.gz"
    digest, name = (folder / "cache.tar.gz.sha256").read_text().split()
    assert name == "cache.tar.gz" and hashlib.sha256(archive.read_bytes()).hexdigest() == digest
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    return members, json.loads((folder / "verification.json").read_text())


def test_evidence_of_the_corruption_was_kept_before_the_purge():
    members, verification = evidence("INC-molecule-cache")
    assert members["./artifact-02.bin"] == b"corrupted\n"
    assert [c["path"] for c in verification["corrupted"]] == ["artifact-02.bin"]


def test_evidence_of_the_tampering_was_kept():
    members, verification = evidence("INC-molecule-tamper")
    assert members["./artifact-03.bin"] == b"tampered artifact-03.bin\n"
    assert len(verification["corrupted"]) == 3


def test_no_archive_at_a_predictable_path(host):
    assert host.run("ls /var/tmp/incident-remediation-*-cache.tar.gz").rc != 0


def test_only_the_tampering_evidence_stays_on_the_host_in_private_folders(host):
    """The two security escalations keep their archive on the host; the purges removed theirs once fetched."""
    folders = host.check_output("find /var/tmp -maxdepth 1 -name 'incident-remediation-cache-*'").split()
    assert len(folders) == 2, folders
    for folder in folders:
        f = host.file(folder)
        assert f.is_directory and not f.is_symlink and f.mode == 0o700 and f.user == "root"
        assert host.check_output(f"ls -A {folder}") == "cache.tar.gz"
