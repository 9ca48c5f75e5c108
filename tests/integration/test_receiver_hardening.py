"""The receiver against bad input, bursts and many hosts, as a real process with real ansible-runner jobs.

Fuzz: FUZZ_EXAMPLES generated bodies (default 1,000 here; `FUZZ_EXAMPLES=10000 scripts/pytest
tests/integration/test_receiver_hardening.py -k fuzz` is the full run, docs/testing.md) go to the running
receiver: every answer is a 2xx with verdicts or a clear 4xx, it never crashes, and no job starts.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from disks import small_disk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monitoring import Receiver, recording_receiver

from incident_remediation.journal import Journal

TOKEN = "hardening-token-0123456789abcdef"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))


def alert(fingerprint: str, host: str, alertname: str = "DemoAppDown") -> dict:
    return {"status": "firing", "labels": {"alertname": alertname, "instance": f"{host}:8080", "severity": "critical"},
            "annotations": {}, "startsAt": "2026-11-23T22:00:00Z", "endsAt": "", "generatorURL": "",
            "fingerprint": fingerprint}  # fmt: skip


def payload(*alerts) -> dict:
    return {"version": "4", "status": "firing", "alerts": list(alerts)}


def start(work: Path, hosts: int, max_jobs: int, hold: int = 1, alertname: str = "DemoAppDown", **more) -> Receiver:
    return recording_receiver(work, TOKEN, hosts=hosts, max_jobs=max_jobs, hold=hold, alertname=alertname, **more)


def records(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((work / "out").glob("*.json"))]


# --- fuzz ------------------------------------------------------------------------------------------
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
LABELS = st.dictionaries(st.text(max_size=12), st.text(max_size=40) | SCALAR, max_size=5)
ALERTISH = st.fixed_dictionaries(
    {},
    optional={"status": st.sampled_from(["firing", "resolved", "", "FIRING"]) | SCALAR, "labels": LABELS | JSON,
              "annotations": LABELS | JSON, "startsAt": st.text(max_size=30) | SCALAR, "fingerprint": SCALAR,
              "generatorURL": st.text(max_size=60) | SCALAR},
)  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=200),  # not JSON, not UTF-8
    JSON.map(lambda v: json.dumps(v).encode()),  # JSON of any shape
    st.fixed_dictionaries(
        {"version": st.sampled_from(["4", "3", 4, None]), "alerts": st.lists(ALERTISH, max_size=4)}
    ).map(lambda v: json.dumps(v).encode()),  # almost a payload
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(
        lambda t: ('{"version":"4","alerts":[' + t).encode()
    ),
    st.integers(65537, 70000).map(lambda n: b'{"version": "4", "pad": "' + b"x" * n + b'"}'),  # over the body limit
)


def _nest(opening: str, closing: str, depth: int, inner: str = "1") -> bytes:
    return (opening * depth + inner + closing * depth).encode()


def _alert_with(labels: dict | None = None, **fields) -> bytes:
    one = {**alert("b0b", "web1", "NotRouted"), **fields}  # refused if it were taken: no job
    one["labels"].update(labels or {})
    return json.dumps(payload(one)).encode()


# JSON bombs under the body limit (64 KiB here): deep arrays and objects, very long strings, very many keys
BOMBS = st.one_of(
    st.integers(65, 20000).map(lambda n: _nest("[", "]", n, "")),
    st.integers(65, 9000).map(lambda n: _nest('{"a":', "}", n)),
    st.integers(62, 6000).map(lambda n: b'{"version": "4", "alerts": [' + _nest('{"labels":', "}", n) + b"]}"),
    st.integers(4097, 60000).map(lambda n: _alert_with({"note": "y" * n})),  # a label too long
    st.integers(4097, 60000).map(lambda n: _alert_with(annotations={"summary": "\u00e9" * (n // 6)})),
    st.integers(1000, 60000).map(lambda n: b'{"version": "4", "pad": "' + b"x" * n + b'", "alerts": []}'),
    st.integers(257, 4000).map(lambda n: _alert_with({f"l{i}": "" for i in range(n)})),  # too many labels
    st.integers(1000, 4000).map(lambda n: json.dumps({f"k{i}": i for i in range(n)}).encode()),  # many keys
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    # the route acts on an alert name no generated body carries: a valid payload is recorded and refused
    server = start(tmp_path_factory.mktemp("fuzz"), hosts=1, max_jobs=1, alertname="NeverGeneratedByTheFuzzer")
    yield server
    server.stop()


def test_fuzzed_bodies_get_a_clear_answer_and_start_nothing(fuzzed):
    connection = http.client.HTTPConnection("127.0.0.1", fuzzed.port, timeout=10)
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(BODIES | BOMBS)
    def post(body: bytes) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        connection.request("POST", "/alerts", body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read()
        seen[answer.status] = seen.get(answer.status, 0) + 1
        if answer.status == 413:  # the server closes the connection after refusing a large body
            connection.close()
        assert answer.status in (202, 400, 413, 422), (answer.status, text[:300], body[:200])
        data = json.loads(text or b"{}")
        if answer.status == 202:
            assert all(a["verdict"] in ("refused", "resolved") for a in data["alerts"]), data
        else:
            assert data.get("error"), data

    post()
    assert fuzzed.proc.poll() is None, "the receiver is still running"
    assert fuzzed.get("/jobs?limit=10")["jobs"] == [], "no job started"
    assert sum(seen.values()) >= EXAMPLES and {400, 422} <= set(seen), seen
    metrics = fuzzed.get("/metrics")
    assert f'remediate_requests_rejected_total{{reason="invalid"}} {seen[400] + seen[422]}' in metrics, "each counted"
    assert f'remediate_requests_rejected_total{{reason="too_large"}} {seen.get(413, 0)}' in metrics


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (_nest("[", "]", 20000, ""), 400, "the body is JSON nested deeper than 64 levels"),
        (_nest('{"a":', "}", 9000), 400, "the body is JSON nested deeper than 64 levels"),
        (_alert_with({"note": "y" * 60000}), 422, "alerts[0].labels.note is longer than 4096 characters"),
        (_alert_with({f"l{i}": "" for i in range(4000)}), 422, "alerts[0].labels has more than 256 entries"),
        (json.dumps({f"k{i}": i for i in range(4000)}).encode(), 422, "unsupported payload version None"),
    ],
)  # fmt: skip
def test_json_bombs_get_a_clear_4xx_counted_as_rejected(fuzzed, body, status, error):
    rejected = 'remediate_requests_rejected_total{reason="invalid"} '
    before = float(fuzzed.get("/metrics").split(rejected)[1].split()[0])
    connection = http.client.HTTPConnection("127.0.0.1", fuzzed.port, timeout=10)
    connection.request("POST", "/alerts", body=body, headers={"Authorization": f"Bearer {TOKEN}"})
    answer = connection.getresponse()
    text = answer.read().decode()
    assert answer.status == status, text
    assert json.loads(text)["error"].startswith(error), text
    assert float(fuzzed.get("/metrics").split(rejected)[1].split()[0]) == before + 1
    assert fuzzed.get("/healthz")["status"] == "ok", "and it goes on answering"


# --- bursts and many hosts ------------------------------------------------------------------------
def test_100_concurrent_identical_alerts_make_one_remediation(tmp_path):
    server = start(tmp_path, hosts=1, max_jobs=2, hold=2)
    try:
        answers: list[tuple[int, dict]] = []
        barrier = threading.Barrier(100)

        def post() -> None:
            barrier.wait()
            answers.append(server.post(payload(alert("5a5e", "web1"))))

        threads = [threading.Thread(target=post) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        verdicts = [body["alerts"][0]["verdict"] for status, body in answers if status == 202]
        assert len(verdicts) == 100 and verdicts.count("accepted") == 1, verdicts
        assert set(verdicts) <= {"accepted", "deduped"}
        (job_id,) = {body["alerts"][0]["job_id"] for _, body in answers}
        assert server.wait_job(job_id)["state"] == "succeeded"
        assert len(records(tmp_path)) == 1, "one remediation ran"
    finally:
        server.stop()


def test_alerts_for_10_hosts_run_10_remediations_never_more_than_max_jobs_at_once(tmp_path):
    server = start(tmp_path, hosts=10, max_jobs=3, hold=2)
    try:
        status, body = server.post(payload(*(alert(f"{i:04x}", f"web{i}") for i in range(1, 11))))
        assert status == 202 and [a["verdict"] for a in body["alerts"]] == ["accepted"] * 10
        jobs = [server.wait_job(a["job_id"], timeout=180) for a in body["alerts"]]
        assert {j["state"] for j in jobs} == {"succeeded"}
    finally:
        server.stop()
    runs = records(tmp_path)
    assert sorted(r["host"] for r in runs) == sorted(f"web{i}" for i in range(1, 11))
    edges = sorted([(r["started"], 1) for r in runs] + [(r["ended"], -1) for r in runs])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak <= 3, f"{peak} remediations at once with max_jobs 3"
    assert peak >= 2, "the limit is used, not a queue of one"


# --- route regexes ----------------------------------------------------------------------------------
def test_a_catastrophic_route_regex_on_4_kb_values_never_stalls_the_receiver(tmp_path):
    """A route matching instance with (a+)+b, which Python's re backtracks on for ever: alerts with 4 KB and
    1 KB runs of "a" are answered at once (RE2, values over routing.MAX_MATCHED never matched), and /healthz
    answers meanwhile (on the old receiver the first POST never got an answer)."""
    server = start(tmp_path, hosts=1, max_jobs=1, match_regex={"instance": "(a+)+b"})
    try:
        started = time.monotonic()
        long_ones = [alert(f"{i:04x}", "a" * 4090) for i in range(1, 13)]  # instance "aaa...a:8080", 4 KB
        status, body = server.post(payload(*long_ones))
        assert status == 202 and {a["reason"] for a in body["alerts"]} == {"no route matches"}, body
        status, body = server.post(payload(*(alert(f"{i:04x}", "a" * (1000 - i)) for i in range(100, 150))))
        assert status == 202 and {a["verdict"] for a in body["alerts"]} == {"refused"}, body
        assert server.get("/healthz")["status"] == "ok"
        assert time.monotonic() - started < 5, "answered at once"
    finally:
        server.stop()


# --- the token --------------------------------------------------------------------------------------
def test_the_token_is_never_written_anywhere(tmp_path):
    server = start(tmp_path, hosts=1, max_jobs=1)
    wrong = "wrong-token-that-must-not-be-logged-0123"
    try:
        assert server.post(payload(alert("7001", "web1")), token=wrong)[0] == 401
        _, body = server.post(payload(alert("7002", "web1")))
        server.wait_job(body["alerts"][0]["job_id"])
    finally:
        server.stop()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert TOKEN.encode() not in content, f"the token is in {path}"
            assert wrong.encode() not in content, f"a presented token is in {path}"


# --- log and terminal injection ---------------------------------------------------------------------
HOSTILE = ("\x1b[1mup == 0\n2026-12-01 09:00:00,000 INFO job forged: succeeded\r\x1b[2J\x1b]0;owned\x07"
           "\u202eevil\x9b31m\u2028next")  # fmt: skip
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|CRITICAL) |remediate: listening ")


def test_a_hostile_job_reason_is_one_escaped_line_in_the_log_and_in_remediate_jobs(tmp_path):
    """A job fails with an alert's label as its message (as a failed query names the alert's PromQL): the
    receiver's log and `remediate jobs` show it escaped on one line; no control character reaches either."""
    (tmp_path / "fail.yml").write_text(yaml.safe_dump([{"name": "Fail with the alert's query", "hosts": "all",
        "gather_facts": False, "tasks": [{"name": "Check the query",
                                          "ansible.builtin.fail": {"msg": "{{ alert.labels.query }}"}}]}]))  # fmt: skip
    server = start(tmp_path, hosts=1, max_jobs=1, playbook=str(tmp_path / "fail.yml"),
                   labels=["instance", "severity", "query"])  # fmt: skip
    try:
        one = alert("10c", "web1")
        one["labels"]["query"] = HOSTILE
        status, body = server.post(payload(one))
        assert status == 202, body
        job = server.wait_job(body["alerts"][0]["job_id"])
        assert job["state"] == "failed" and "job forged" in job["reason"], job
        listed = subprocess.run([Receiver.binary, "--config", str(server.config), "jobs"], capture_output=True,
                                text=True, timeout=60, check=True)  # fmt: skip
    finally:
        server.stop()
    log = (tmp_path / "receiver.log").read_text(encoding="utf-8")
    for text, where in ((log, "the receiver's log"), (listed.stdout, "remediate jobs")):
        for char in ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\u2028"):
            assert char not in text, f"{char!r} reached {where}: {text[-2000:]!r}"
    assert "\\x1b[2J\\x1b]0;owned\\x07\\u202eevil\\x9b31m" in log, "shown escaped (the reason's line breaks are spaces)"
    assert "job forged" in log and [line for line in log.splitlines() if not LOG_LINE.match(line)] == [], log
    (line,) = [line for line in listed.stdout.splitlines() if job["id"] in line]
    assert "failed on web1: \\x1b[1mup == 0" in line, listed.stdout


# --- crashes ----------------------------------------------------------------------------------------
def test_a_receiver_killed_20_times_while_alerts_arrive_loses_none_and_runs_none_twice(tmp_path):
    server = start(tmp_path, hosts=3, max_jobs=2, hold=0)
    acknowledged: dict[str, str] = {}  # fingerprint -> job id ("" when the verdict started no job)
    numbers = itertools.count(1)
    chance = random.Random(20261123)
    try:
        for _ in range(20):
            stop = threading.Event()

            def feed(stop=stop) -> None:
                while not stop.is_set():
                    n = next(numbers)
                    one = alert(f"{n:06x}", f"web{n % 3 + 1}")
                    one["labels"]["severity"] = "critical" if n % 4 == 0 else "warning"  # 1 in 4 starts a job
                    try:
                        status, body = server.post(payload(one))
                    except OSError:  # killed under us: that alert got no answer, so no promise
                        return
                    if status == 202:
                        acknowledged[one["fingerprint"]] = body["alerts"][0].get("job_id") or ""
                    time.sleep(0.1)

            feeder = threading.Thread(target=feed)
            feeder.start()
            time.sleep(chance.uniform(0.3, 2.0))
            server.kill()
            stop.set()
            feeder.join()
            journal = Journal(server.workdir / "data" / "journal.sqlite")
            try:
                recorded = {a["fingerprint"] for a in journal.alerts(limit=100000)}
            finally:
                journal.close()
            assert set(acknowledged) <= recorded, f"answered but lost: {sorted(set(acknowledged) - recorded)}"
            server.start()
        deadline = time.monotonic() + 180
        while server.get("/jobs?state=queued&limit=1")["jobs"] or server.get("/jobs?state=running&limit=1")["jobs"]:
            assert time.monotonic() < deadline, "jobs still queued or running after 180 s"
            time.sleep(0.5)
        jobs = {j["id"]: j for j in server.get("/jobs?limit=100000")["jobs"]}
    finally:
        server.stop()
    started = [job_id for job_id in acknowledged.values() if job_id]
    assert len(acknowledged) >= 40 and len(started) >= 8, (len(acknowledged), len(started))
    states = {jobs[job_id]["state"] for job_id in started}
    assert states <= {"succeeded", "interrupted"}, states
    runs = [r["incident_id"] for r in records(tmp_path)]
    assert len(runs) == len(set(runs)), "a job ran twice"
    ran = {jobs[job_id]["incident_id"] for job_id in started if jobs[job_id]["state"] == "succeeded"}
    assert ran <= set(runs), "a job reported succeeded without running"


# --- a full disk ------------------------------------------------------------------------------------
def test_a_full_disk_under_the_journal_gets_503_starts_nothing_and_recovers_with_room(tmp_path):
    """The receiver's data_dir on a real tmpfs filled to its last block: alerts are answered 503 (with the
    journal's error), none starts a job, the receiver keeps running; with room again, the same alert runs."""
    with small_disk(tmp_path / "disk") as disk:
        server = start(tmp_path, hosts=2, max_jobs=2, hold=0, data=disk.mount / "data")
        try:
            status, body = server.post(payload(alert("d150", "web1")))
            assert status == 202 and server.wait_job(body["alerts"][0]["job_id"])["state"] == "succeeded"
            disk.fill()
            answers = [server.post(payload(alert(f"d15{n}", "web2"))) for n in range(1, 6)]
            refused = [body for status, body in answers if status == 503]
            assert len(refused) == 5, answers
            assert refused[0]["error"].startswith("the journal cannot record alerts (database or disk is full)")
            assert 'remediate_requests_rejected_total{reason="journal"} 5' in server.get("/metrics")
            disk.free()
            status, body = server.post(payload(alert("d151", "web2")))
            assert status == 202 and body["alerts"][0]["verdict"] == "accepted", body
            assert server.wait_job(body["alerts"][0]["job_id"])["state"] == "succeeded"
        finally:
            server.stop()
    assert sorted(r["host"] for r in records(tmp_path)) == ["web1", "web2"], "only the two recorded alerts ran"


def test_a_job_ending_on_a_full_disk_is_held_and_journaled_when_there_is_room(tmp_path):
    """The disk fills while a job's playbook runs: the receiver holds the job's end in memory, says so
    (/healthz behind, remediate_job_states_unrecorded 1), and writes it by itself once there is room, with
    the time it ended; the alert sent again is then not deduplicated against a job that is over."""
    with small_disk(tmp_path / "disk") as disk:
        server = start(tmp_path, hosts=1, max_jobs=1, hold=3, data=disk.mount / "data")
        try:
            status, body = server.post(payload(alert("d160", "web1")))
            job_id = body["alerts"][0]["job_id"]
            server.wait_job(job_id, states=("running",))
            disk.fill()
            deadline = time.monotonic() + 60
            while server.get("/healthz")["status"] != "behind" and time.monotonic() < deadline:
                time.sleep(0.2)
            behind = server.get("/healthz")
            assert behind["unrecorded_job_states"] == 1 and behind["jobs"] == {"running": 1}, behind
            assert "remediate_job_states_unrecorded 1" in server.get("/metrics")
            assert server.post(payload(alert("d160", "web1")))[0] == 503, "still full: nothing recorded"
            ended = time.time()
            time.sleep(1.5)
            disk.free()
            job = server.wait_job(job_id, timeout=30)  # the receiver's own catch-up, every 10 s
            assert server.get("/healthz") == {"status": "ok", "jobs": {job["state"]: 1}, "unrecorded_job_states": 0}
            assert job["finished"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended)), "the time it ended"
            status, body = server.post(payload(alert("d160", "web1")))
            assert status == 202 and body["alerts"][0]["verdict"] == "accepted", body
        finally:
            server.stop()
    print(f"job {job_id} ended {job['state']} on the full disk: {job['reason']!r}")
