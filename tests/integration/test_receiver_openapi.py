"""The receiver against its own OpenAPI description (src/incident_remediation/openapi.yaml), with schemathesis.

Schemathesis reads /openapi.json from the running receiver and sends every operation data that fits the
description and data that breaks it. Every answer must be described (status, content type, body schema),
never a 5xx; data that breaks the description gets a 4xx, data that fits it does not; the token is checked
where the description says so. OPENAPI_EXAMPLES sets the count per operation and mode (default 200 here;
`OPENAPI_EXAMPLES=2000 scripts/pytest tests/integration/test_receiver_openapi.py` is the full run).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import schemathesis
from monitoring import recording_receiver

from incident_remediation.receiver import description

TOKEN = "openapi-token-0123456789abcdef"
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "200"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROBE = {"status": "firing", "labels": {"alertname": "OpenApiProbe", "instance": "web1:8080", "severity": "critical"},
         "annotations": {}, "startsAt": "2026-11-24T08:00:00Z", "fingerprint": "0a0a"}  # fmt: skip


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    # the route acts on an alert name the generator does not produce: generated payloads start no job,
    # and the one probe alert below leaves a finished job for /jobs to describe
    server = recording_receiver(tmp_path_factory.mktemp("openapi"), TOKEN, hosts=1, max_jobs=1, hold=0,
                                alertname="OpenApiProbe")  # fmt: skip
    status, body = server.post({"version": "4", "alerts": [PROBE]})
    assert status == 202, body
    server.probe_job = server.wait_job(body["alerts"][0]["job_id"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(receiver):
    """The description as the receiver serves it; the same as the package's (checked below)."""
    return schemathesis.openapi.from_url(f"{receiver.url}/openapi.json")


# generated from the package's description at collection; the lazy loader (from_fixture) breaks on pytest 9
# the token as the description's bearer scheme: schemathesis then also sends requests without it
SETTINGS = {**tomllib.loads(CONFIG.read_text()), "auth": {"openapi": {"bearer": {"bearer": TOKEN}}}}
schema = schemathesis.openapi.from_dict(description(), config=schemathesis.Config.from_dict(SETTINGS))
schema.config.generation.update(max_examples=EXAMPLES)


@schema.parametrize()
def test_every_answer_is_the_one_described(case, receiver):
    case.call_and_validate(base_url=receiver.url)


def test_the_generated_requests_started_nothing_and_the_receiver_still_runs(receiver):
    assert receiver.proc.poll() is None
    jobs = receiver.get("/jobs?limit=1000")["jobs"]
    assert [job["id"] for job in jobs] == [receiver.probe_job["id"]], "no generated payload started a job"


def test_it_serves_the_packages_description(receiver, api):
    assert api.raw_schema == description()


def test_a_real_job_and_its_rejections_are_as_described(receiver, api):
    job = receiver.probe_job
    assert job["state"] == "succeeded" and job["source"] == "alert", job
    api["/jobs/{job_id}"]["GET"].Case(path_parameters={"job_id": job["id"]}).call_and_validate(headers=AUTH)
    for query in ({"limit": "0"}, {"limit": "-1"}, {"limit": "1e3"}, {"limit": "٣"}, {"state": "done"}, {"stat": "x"}):
        answer = api["/jobs"]["GET"].Case(query=query).call(headers=AUTH)
        assert answer.status_code == 400 and next(iter(query)) in answer.json()["error"], (query, answer.text)
    api["/jobs"]["GET"].Case(query={"limit": "5000", "state": "succeeded"}).call_and_validate(headers=AUTH)
