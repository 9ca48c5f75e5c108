"""The AWX job-launch client against a local HTTP server that checks every request (no AWX runs here)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_remediation.awx import AwxLauncher, AwxSettings
from incident_remediation.config import Config, load
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.errors import ConfigError
from incident_remediation.journal import Journal
from incident_remediation.routing import Route

TOKEN = "awx-oauth2-token"


def job(check=False, playbook="incident.remediation.remediate"):
    variables = {
        "alert": {"labels": {"alertname": "Down", "note": "{{ lookup('pipe', 'id') }}"}},
        "incident_id": "INC-1",
    }
    return {"id": "j1", "playbook": playbook, "target": "web1", "check_mode": int(check),
            "extravars": json.dumps(variables)}  # fmt: skip


def launcher(server, **settings):
    base = {"url": server.url_for("/"), "token": TOKEN, "job_templates": {"incident.remediation.remediate": 42},
            "poll_seconds": 0}  # fmt: skip
    return AwxLauncher(AwxSettings(**{**base, **settings}), sleep=lambda _: None)


def expect_launch(server, answer=None, status=200, check=False):
    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = request.get_json()
        assert body["limit"] == "web1" and body["job_type"] == ("check" if check else "run")
        assert body["extra_vars"]["alert"]["labels"]["note"] == "{{ lookup('pipe', 'id') }}"
        assert body["extra_vars"]["incident_id"] == "INC-1"
        return Response(json.dumps(answer or {"job": 7, "ignored_fields": {}}), status=status,
                        content_type="application/json")  # fmt: skip

    server.expect_ordered_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_handler(handler)


def test_launch_then_poll_until_successful(httpserver):
    expect_launch(httpserver)
    for status in ("pending", "running", "successful"):
        httpserver.expect_ordered_request("/api/v2/jobs/7/", method="GET").respond_with_json({"status": status})
    assert launcher(httpserver)(None, job()) == ("succeeded", 0, "")
    httpserver.check_assertions()


def test_check_mode_launches_a_check_job(httpserver):
    expect_launch(httpserver, check=True)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "successful"})
    assert launcher(httpserver)(None, job(check=True))[0] == "succeeded"
    httpserver.check_assertions()


def test_a_failed_awx_job_fails_with_its_explanation(httpserver):
    expect_launch(httpserver)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json(
        {"status": "error", "job_explanation": "Previous Task Failed"}
    )
    assert launcher(httpserver)(None, job()) == ("failed", 1, "AWX job 7 error: Previous Task Failed")


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        ({"detail": "Authentication credentials were not provided."}, 401, 'HTTP 401: {"detail"'),
        ({"job": 7, "ignored_fields": {"limit": "web1"}}, 201, "AWX ignored ['limit']: enable prompting on launch"),
    ],
)
def test_launch_refusals_are_explained(httpserver, answer, status, reason):
    expect_launch(httpserver, answer=answer, status=status)
    state, rc, message = launcher(httpserver)(None, job())
    assert (state, rc) == ("failed", -1) and reason in message


def test_no_template_for_the_playbook_and_unreachable_awx(httpserver):
    assert launcher(httpserver)(None, job(playbook="other.yml"))[2] == (
        "no AWX job template for playbook other.yml (awx.job_templates)")  # fmt: skip
    dead = AwxLauncher(AwxSettings(url="http://127.0.0.1:9", token=TOKEN, job_templates={"p": 1}))
    assert "AWX at http://127.0.0.1:9 cannot be reached" in dead(None, job(playbook="p"))[2]


def test_a_job_that_never_ends_times_out(httpserver):
    # awx.timeout_seconds bounds every job beside its route's timeout; this AWX refuses the cancel (405: it
    # says the job can no longer be cancelled, and then reports it ended): said
    refused = []
    expect_launch(httpserver)
    httpserver.expect_request("/api/v2/jobs/7/").respond_with_handler(
        lambda _r: Response(json.dumps({"status": "successful" if refused else "running"}),
                            content_type="application/json"))  # fmt: skip
    httpserver.expect_request("/api/v2/jobs/7/cancel/", method="POST").respond_with_handler(
        lambda _r: (refused.append(1), Response('{"detail": "no"}', status=405))[1])  # fmt: skip
    state, _, reason = launcher(httpserver, timeout_seconds=0.2)(None, job())
    assert state == "timed_out" and reason.startswith("AWX job 7 did not finish within 0.2 s (awx.timeout_seconds)")
    assert "it could not be cancelled (AWX answered POST /api/v2/jobs/7/cancel/ with HTTP 405" in reason
    assert reason.endswith("its host was held until AWX reported it successful"), reason


def test_awx_config(tmp_path, monkeypatch):
    route = {"name": "r", "alertname": "A", "playbook": "p"}
    (tmp_path / "awx-token").write_text("from-file\n")
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump({"routes": [route], "awx": {"url": "https://awx", "token_file": "awx-token",
                                                              "job_templates": {"p": 42}}}))  # fmt: skip
    monkeypatch.delenv("REMEDIATE_AWX_TOKEN", raising=False)
    settings = load(good).awx_settings()
    assert (settings.url, settings.token, settings.job_templates) == ("https://awx", "from-file", {"p": 42})
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"routes": [route], "awx": {"url": "awx", "job_templates": {}}}))
    with pytest.raises(ConfigError, match=r"awx\.url: must be an http"):
        load(bad)


# --- one AWX job per job: journaled, found again, followed after a crash, cancelled at the timeout ------------
EVENTS = "/api/v2/jobs/7/job_events/"


def routed(tmp_path, timeout: float = 1800) -> Config:
    route = Route(name="down", alertname="Down", playbook="incident.remediation.remediate", timeout=timeout)
    return Config(source="test", routes=[route], data_dir=tmp_path)


def queued(journal: Journal) -> dict:
    variables = json.loads(job()["extravars"])
    job_id = journal.create_job(source="alert", route="down", target="web1", playbook="incident.remediation.remediate",
                                extravars=variables, fingerprint="ab", incident_id="INC-1")  # fmt: skip
    return journal.job(job_id)


@pytest.fixture
def threaded():
    """An AWX stand-in that answers while a slow answer is still on its way (as AWX does)."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def tagged(job_id: str) -> str:
    return json.dumps({"incident_id": "INC-1", "remediate_job_id": job_id})


def test_the_awx_job_id_is_journaled_as_soon_as_awx_answers_the_launch(httpserver, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    row = queued(journal)
    seen = []

    def launch(request):
        assert request.get_json()["extra_vars"]["remediate_job_id"] == row["id"], "the launch is tagged with our id"
        return Response(json.dumps({"job": 7, "ignored_fields": {}}), status=201, content_type="application/json")

    def poll(_request):
        seen.append(journal.job(row["id"])["awx_job"])  # while AWX runs it, the journal knows which job it is
        return Response(json.dumps({"status": "successful"}), content_type="application/json")

    httpserver.expect_ordered_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_handler(launch)
    httpserver.expect_ordered_request("/api/v2/jobs/7/", method="GET").respond_with_handler(poll)
    remediate = Dispatcher(routed(tmp_path), journal, launcher(httpserver))

    async def scenario():
        remediate.schedule(row)
        await remediate.drain()

    asyncio.run(scenario())
    httpserver.check_assertions()
    assert seen == [7] and journal.job(row["id"])["state"] == "succeeded"


@pytest.mark.parametrize("listed_with_vars", [True, False], ids=["vars-in-list", "vars-in-detail"])
def test_a_launch_whose_answer_was_lost_is_found_in_awx_not_launched_twice(threaded, listed_with_vars):
    launches = []

    def slow_launch(request):
        launches.append(request.get_json())
        time.sleep(0.6)  # AWX took the launch, its answer comes after the client gave up
        return Response(json.dumps({"job": 7, "ignored_fields": {}}), status=201, content_type="application/json")

    def lookup(request):
        assert request.args["limit"] == "web1" and request.args["order_by"] == "-id" and "created__gte" in request.args
        others = {"id": 6, "limit": "web1", "extra_vars": tagged("another-job")}
        ours = {"id": 7, "limit": "web1", **({"extra_vars": tagged("j1")} if listed_with_vars else {})}
        return Response(json.dumps({"count": 2, "next": None, "results": [ours, others] if listed_with_vars
                                    else [ours]}), content_type="application/json")  # fmt: skip

    threaded.expect_ordered_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_handler(
        slow_launch)  # fmt: skip
    threaded.expect_ordered_request("/api/v2/job_templates/42/jobs/", method="GET").respond_with_handler(lookup)
    if not listed_with_vars:  # newer AWX leave extra_vars out of lists: the job's own page has them
        threaded.expect_ordered_request("/api/v2/jobs/7/", method="GET").respond_with_json(
            {"id": 7, "status": "running", "extra_vars": tagged("j1")})  # fmt: skip
    threaded.expect_ordered_request("/api/v2/jobs/7/", method="GET").respond_with_json({"status": "successful"})
    awx = AwxLauncher(AwxSettings(url=threaded.url_for("/"), token=TOKEN, job_templates={"p": 42}, poll_seconds=0),
                      sleep=lambda _: None, request_timeout=0.2)  # fmt: skip
    assert awx(None, job(playbook="p")) == ("succeeded", 0, "")
    threaded.check_assertions()
    assert len(launches) == 1, "launched once"


def test_a_poll_without_answer_is_tried_again_not_taken_for_the_end(threaded):
    expect_launch(threaded)
    threaded.expect_ordered_request("/api/v2/jobs/7/").respond_with_handler(
        lambda _r: (time.sleep(0.6), Response("{}", content_type="application/json"))[1])  # fmt: skip
    threaded.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "successful"})
    awx = AwxLauncher(AwxSettings(url=threaded.url_for("/"), token=TOKEN, job_templates={"incident.remediation."
                      "remediate": 42}, poll_seconds=0), sleep=lambda _: None, request_timeout=0.2)  # fmt: skip
    assert awx(None, job()) == ("succeeded", 0, "")


def crashed(journal: Journal, awx_job: int | None) -> dict:
    """A job the receiver had started in AWX when it was killed (its row left running)."""
    row = queued(journal)
    journal.set_state(row["id"], "running")
    if awx_job is not None:
        journal.set_awx_job(row["id"], awx_job)
    return journal.job(row["id"])


@pytest.mark.parametrize("journaled", [True, False], ids=["journaled", "found-by-tag"])
def test_after_a_crash_the_awx_job_is_followed_to_its_end_not_marked_interrupted(httpserver, tmp_path, journaled):
    journal = Journal(tmp_path / "journal.sqlite")
    row = crashed(journal, 7 if journaled else None)  # found-by-tag: killed between AWX's answer and the journal
    if not journaled:
        httpserver.expect_ordered_request("/api/v2/job_templates/42/jobs/").respond_with_json(
            {"results": [{"id": 7, "limit": "web1", "extra_vars": tagged(row["id"])}]})  # fmt: skip
    for status in ("running", "successful"):
        httpserver.expect_ordered_request("/api/v2/jobs/7/", method="GET").respond_with_json({"status": status})
    remediate = Dispatcher(routed(tmp_path), journal, launcher(httpserver))

    async def scenario():
        interrupted = await remediate.recover()
        await remediate.drain()
        return interrupted

    assert asyncio.run(scenario()) == []
    httpserver.check_assertions()  # and no launch: a POST would have found no handler
    done = journal.job(row["id"])
    assert (done["state"], done["awx_job"], done["started"]) == ("succeeded", 7, row["started"])


def test_after_a_crash_before_awx_had_the_job_it_is_interrupted_not_launched(httpserver, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    row = crashed(journal, None)
    httpserver.expect_ordered_request("/api/v2/job_templates/42/jobs/").respond_with_json({"results": []})
    remediate = Dispatcher(routed(tmp_path), journal, launcher(httpserver))

    async def scenario():
        await remediate.recover()
        await remediate.drain()

    asyncio.run(scenario())
    httpserver.check_assertions()
    done = journal.job(row["id"])
    assert done["state"] == "interrupted"
    assert done["reason"] == (f"the receiver stopped before AWX had a job for it (no job of template 42 is tagged "
                              f"remediate_job_id={row['id']}): not launched again")  # fmt: skip


def test_a_job_past_its_timeout_is_cancelled_in_awx_and_says_what_was_running(httpserver, tmp_path):
    cancelled = []

    def status(_request):  # running until it is cancelled, as AWX would
        return Response(json.dumps({"status": "canceled" if cancelled else "running"}), content_type="application/json")

    def cancel(request):
        cancelled.append(request.method)
        return Response("", status=202)

    expect_launch(httpserver)
    httpserver.expect_request("/api/v2/jobs/7/", method="GET").respond_with_handler(status)
    httpserver.expect_request("/api/v2/jobs/7/cancel/", method="POST").respond_with_handler(cancel)
    httpserver.expect_request(EVENTS, query_string={"event": "runner_on_start", "order_by": "-counter",
                              "page_size": "1"}).respond_with_json(
        {"results": [{"event": "runner_on_start", "host_name": "web1", "task": "Restart the unit"}]})  # fmt: skip
    state, rc, reason = launcher(httpserver)(routed(tmp_path, timeout=0.2), {**job(), "route": "down"})
    httpserver.check_assertions()
    assert cancelled == ["POST"]
    assert (state, rc) == ("timed_out", -1)
    assert reason == ("AWX job 7 did not finish within 0.2 s (the timeout of route down): still running: task "
                      "'Restart the unit' on web1; it was canceled in AWX")  # fmt: skip


def test_a_failed_awx_job_names_its_failed_task(httpserver):
    expect_launch(httpserver)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "failed", "job_explanation": ""})
    failed = {"event": "runner_on_failed", "host_name": "web1", "task": "Restart the unit", "event_data": {"res": {
              "msg": "non-zero return code", "rc": 3, "stderr": "unit demo.service is masked"}}}  # fmt: skip
    httpserver.expect_ordered_request(EVENTS, query_string={"failed": "true", "event__in": "runner_on_failed,"
                                      "runner_on_unreachable", "order_by": "-counter", "page_size": "1"}
                                      ).respond_with_json({"results": [failed]})  # fmt: skip
    reason = (
        "AWX job 7 failed: task 'Restart the unit' failed on web1: non-zero return code (rc 3): unit "
        "demo.service is masked"
    )
    assert launcher(httpserver)(None, job()) == ("failed", 1, reason)
    httpserver.check_assertions()


@pytest.mark.parametrize("answer", [502, 503, 429])
def test_an_error_answer_while_polling_is_tried_again_not_taken_for_the_end(httpserver, answer):
    # AWX's proxy while its web pod restarts (502/503), its rate limit (429): the AWX job runs on, so does the poll
    expect_launch(httpserver)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "running"})
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_data("bad gateway", status=answer)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "successful"})
    assert launcher(httpserver)(None, job()) == ("succeeded", 0, "")
    httpserver.check_assertions()


@pytest.mark.parametrize("cancel", [405, "unconfirmed"])
def test_a_timed_out_awx_job_whose_cancel_is_not_confirmed_holds_its_host_until_awx_ends_it(httpserver, cancel):
    # AWX refuses the cancel, or does not confirm it: the AWX job may act on the host yet, so the job (and its
    # host's lock) lasts until AWX reports an end
    polls, cancels = [], []

    def status(_request):
        polls.extend([1] if cancels else [])  # past the cancel: running for 30 more polls, then failed
        return Response(json.dumps({"status": "failed" if len(polls) > 30 else "running"}),
                        content_type="application/json")  # fmt: skip

    def refuse(_request):
        cancels.append(1)
        return Response('{"detail": "no"}' if cancel == 405 else "", status=405 if cancel == 405 else 202)

    expect_launch(httpserver)
    httpserver.expect_request("/api/v2/jobs/7/", method="GET").respond_with_handler(status)
    httpserver.expect_request("/api/v2/jobs/7/cancel/", method="POST").respond_with_handler(refuse)
    awx = launcher(httpserver, timeout_seconds=0.2)
    awx.sleep = lambda _: time.sleep(0.01)  # 30 polls outlast the cancel's wait
    awx_module = __import__("incident_remediation.awx", fromlist=["CANCEL_WAIT"])
    saved, awx_module.CANCEL_WAIT = awx_module.CANCEL_WAIT, 0.1
    try:
        state, _, reason = awx(None, job())
    finally:
        awx_module.CANCEL_WAIT = saved
    assert len(polls) == 31, "followed until AWX reported an end"
    assert state == "timed_out" and reason.startswith("AWX job 7 did not finish within 0.2 s (awx.timeout_seconds)")
    assert reason.endswith("its host was held until AWX reported it failed"), reason


def test_a_launch_without_answer_is_never_sent_again(threaded):
    # AWX may take over 35 s to create the job it was asked for: looked for (for twice the request timeout), not
    # launched a second time; then failed, saying where to look
    lost = []
    threaded.expect_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_handler(
        lambda _r: (lost.append(1), time.sleep(0.6), Response("", status=502))[2])  # fmt: skip
    threaded.expect_request("/api/v2/job_templates/42/jobs/").respond_with_json({"results": []})
    awx = AwxLauncher(AwxSettings(url=threaded.url_for("/"), token=TOKEN, job_templates={"incident.remediation."
                      "remediate": 42}, poll_seconds=0), sleep=lambda _: time.sleep(0.05),
                      request_timeout=0.2)  # fmt: skip
    began = time.monotonic()
    state, _, reason = awx(None, job())
    assert time.monotonic() - began >= 0.2 + 0.4, "looked for over twice the request timeout"
    assert state == "failed" and len(lost) == 1, "launched once"
    assert reason.endswith("it may be running in AWX all the same: look for remediate_job_id=j1 in template 42's "
                           "jobs"), reason  # fmt: skip


def test_a_launch_refused_for_its_rate_is_sent_again(httpserver):
    # a 429 is AWX saying it did not take the launch: sending it again cannot make two jobs
    httpserver.expect_ordered_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_data(
        "slow down", status=429)  # fmt: skip
    expect_launch(httpserver)
    httpserver.expect_ordered_request("/api/v2/jobs/7/").respond_with_json({"status": "successful"})
    assert launcher(httpserver)(None, job()) == ("succeeded", 0, "")
    httpserver.check_assertions()
