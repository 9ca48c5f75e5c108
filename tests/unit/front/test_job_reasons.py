"""What a failed job says, and the alerts refused before any job: real ansible-runner runs of small playbooks
on local hosts (and an ssh host nothing answers), and the dispatcher reading a real inventory with
ansible-inventory. Each reason must name what failed in words an operator can act on."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.routing import Route
from incident_remediation.runner import execute
from incident_remediation.webhook import parse_alert

ROOT = Path(__file__).resolve().parents[3]
LOCAL = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
FAILING = [{"name": "Stand-in", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "Ignored failure", "ansible.builtin.command": "false", "ignore_errors": True},
    {"name": "Restart the unit", "ansible.builtin.command": "sh -c 'echo out; echo unit demo.service is masked >&2;"
                                                            " exit 3'"},
]}]  # fmt: skip


@pytest.fixture
def work(tmp_path):
    (tmp_path / "hosts").write_text(f"web1 {LOCAL}\nweb2 {LOCAL}\n"
                                    "gone ansible_host=127.0.0.1 ansible_port=9 ansible_connection=ssh\n"
                                    "[demo_app]\nweb1\n")  # fmt: skip
    (tmp_path / "failing.yml").write_text(yaml.safe_dump(FAILING, sort_keys=False))
    (tmp_path / "broken.yml").write_text("- hosts: all\n  tasks:\n    - name: x\n      debug: {msg: [unclosed\n")
    return tmp_path


def run(work: Path, playbook: str, target: str = "web1") -> tuple[str, int, str]:
    config = Config(source="test", routes=[], inventory=str(work / "hosts"), data_dir=work / "data",
                    ansible_config=str(ROOT / "ansible.cfg"))  # fmt: skip
    job = {"id": f"j-{time.monotonic_ns()}", "playbook": playbook, "target": target, "check_mode": 0,
           "extravars": "{}", "route": ""}  # fmt: skip
    return execute(config, job)


def test_a_failed_task_names_the_task_the_host_and_what_it_said(work):
    state, rc, reason = run(work, str(work / "failing.yml"))
    assert (state, rc) == ("failed", 2)
    assert reason.startswith("task 'Restart the unit' failed on web1: "), reason
    assert "non-zero return code (rc 3): unit demo.service is masked" in reason, reason
    assert "Ignored failure" not in reason


def test_an_unreachable_host_is_said_to_be_unreachable(work):
    state, _, reason = run(work, str(work / "failing.yml"), target="gone")
    assert state == "failed"
    assert reason.startswith("host gone is unreachable (task 'Ignored failure'): "), reason
    assert "port 9: Connection refused" in reason


def test_a_playbook_that_does_not_parse_says_where(work):
    state, rc, reason = run(work, str(work / "broken.yml"))
    assert (state, rc) == ("failed", 4)
    assert reason.startswith("ansible-playbook could not start: YAML parsing failed"), reason
    assert f"{work / 'broken.yml'}:5:1" in reason


def test_a_missing_playbook_is_named(work):
    state, _, reason = run(work, str(work / "nope.yml"))
    assert state == "failed"
    assert f"ansible-playbook could not start: the playbook: {work / 'nope.yml'} could not be found" in reason, reason


def test_a_host_not_in_the_inventory_is_named_with_the_inventory(work):
    # an operator's `remediate run --limit web9`: the receiver refuses such alerts before any job
    state, _, reason = run(work, str(work / "failing.yml"), target="web9")
    assert state == "failed"
    assert reason == f"host 'web9' is not in the inventory {work / 'hosts'}: ansible-playbook found no host to run on"


# --- intake: the receiver knows the inventory ---------------------------------------------------------
def alert(host: str, fingerprint: str = "aa"):
    return parse_alert({"status": "firing", "labels": {"alertname": "Down", "instance": f"{host}:80"},
                        "fingerprint": fingerprint, "startsAt": "2026-11-23T10:00:00Z"})  # fmt: skip


def dispatcher(work: Path, inventory: str = "hosts") -> Dispatcher:
    config = Config(source="test", routes=[Route(name="down", alertname="Down", playbook="p.yml")],
                    inventory=str(work / inventory) if inventory else "", data_dir=work / "data",
                    ansible_config=str(ROOT / "ansible.cfg"))  # fmt: skip
    remediate = Dispatcher(config, Journal(work / "journal.sqlite"), lambda *_: ("succeeded", 0, ""))
    remediate.inventory.keep_fresh()  # as the receiver does before it answers (and its worker thread after)
    return remediate


def test_an_alert_for_a_host_not_in_the_inventory_is_refused_at_intake_naming_it(work):
    async def scenario():
        remediate = dispatcher(work)
        (unknown,) = remediate.submit([alert("web9")])
        (group,) = remediate.submit([alert("demo_app", "bb")])
        (known,) = remediate.submit([alert("web2", "cc")])
        await remediate.drain()
        return remediate, unknown, group, known

    remediate, unknown, group, known = asyncio.run(scenario())
    assert (unknown.verdict, unknown.job_id) == ("refused", "")
    assert unknown.reason == (f"host 'web9' is not in the inventory {work / 'hosts'}: add it there, or map the "
                              "alert's label to its inventory name with the route's hosts")  # fmt: skip
    assert group.verdict == "refused" and "'demo_app' is a group of the inventory" in group.reason, group.reason
    assert known.verdict == "accepted"
    assert [job["target"] for job in remediate.journal.jobs()] == ["web2"], "no job for the refused ones"
    assert {a["verdict"] for a in remediate.journal.alerts() if a["fingerprint"] == "aa"} == {"refused"}


def test_the_inventory_is_read_again_when_it_changes(work):
    remediate = dispatcher(work)
    assert remediate.explain(alert("web9"))[1].verdict == "refused"
    hosts = work / "hosts"
    hosts.write_text(hosts.read_text().replace("web2 ", "web9 "))
    remediate.inventory.keep_fresh()  # the worker thread's next round (every few seconds)
    assert remediate.explain(alert("web9"))[1].verdict == "accepted"
    assert remediate.explain(alert("web2"))[1].verdict == "refused"


def test_an_inventory_that_cannot_be_read_refuses_nothing_and_says_why_in_the_log(work, caplog):
    # the job's own failure then says what ansible-playbook makes of it
    (work / "broken-inventory.yml").write_text("all: [not, an, inventory\n")
    (_, verdict) = dispatcher(work, "broken-inventory.yml").explain(alert("web1"))
    assert verdict.verdict == "accepted"
    assert "cannot list the hosts of the inventory" in caplog.text


def test_without_an_inventory_setting_nothing_is_refused_for_its_host(work):
    # the runner then uses ansible's default inventory (ansible.cfg), which is not the receiver's to read
    assert dispatcher(work, inventory="").explain(alert("web9"))[1].verdict == "accepted"


def test_the_verdict_is_journaled_with_the_reason(work):
    remediate = dispatcher(work)

    async def scenario():
        return remediate.submit([alert("web9")])

    asyncio.run(scenario())
    (row,) = remediate.journal.alerts()
    assert row["verdict"] == "refused" and "'web9' is not in the inventory" in row["reason"]
    assert json.loads(row["labels"])["instance"] == "web9:80"


def test_an_alert_does_not_wait_for_a_listing_under_way(work, monkeypatch):
    # the receiver lists the inventory in a worker thread (keep_up): meanwhile alerts use the listing before
    remediate = dispatcher(work)
    remediate.inventory.keep_fresh()
    listing = remediate.inventory._list

    def slow():
        time.sleep(3)
        return listing()

    monkeypatch.setattr(remediate.inventory, "_list", slow)
    (work / "hosts").write_text((work / "hosts").read_text() + "web9 ansible_connection=local\n")
    worker = threading.Thread(target=remediate.inventory.keep_fresh)
    worker.start()
    time.sleep(0.2)
    began = time.monotonic()
    assert remediate.explain(alert("web9"))[1].verdict == "refused", "the listing before it"
    assert time.monotonic() - began < 1
    worker.join()
    assert remediate.explain(alert("web9"))[1].verdict == "accepted", "then the new one"


def test_the_receiver_keeps_the_listing_fresh_in_the_background(work, monkeypatch):
    remediate = dispatcher(work)
    lists = []
    listing = remediate.inventory._list
    # counted once the listing is done (ansible-inventory takes seconds on a loaded machine)
    monkeypatch.setattr(remediate.inventory, "_list", lambda: (listing(), lists.append(1))[0])
    monkeypatch.setattr("incident_remediation.dispatcher.CATCH_UP_SECONDS", 0.05)

    async def scenario():
        keeping = asyncio.get_running_loop().create_task(remediate.keep_up())
        await asyncio.sleep(1)
        assert lists == [], "listed once at start (dispatcher()), not again while nothing changed"
        hosts = work / "hosts"
        hosts.write_text(hosts.read_text().replace("web2 ", "web9 "))
        deadline = time.monotonic() + 30
        while not lists and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert lists == [1], "listed again in the background when a file of it changed"
        assert remediate.explain(alert("web9"))[1].verdict == "accepted"
        await asyncio.sleep(0.5)
        assert lists == [1], "and only once"
        keeping.cancel()

    asyncio.run(scenario())
    assert lists == [1], "the alert used that listing"


def test_an_alert_never_lists_the_inventory_itself(work, monkeypatch):
    # only the receiver's worker thread lists (keep_up): an alert arriving when a file changed or the listing is
    # old must not run ansible-inventory on the event loop, inside the request's transaction (a dynamic
    # inventory can take up to its 120 s timeout): it is decided on the listing before
    remediate = dispatcher(work)
    remediate.inventory.keep_fresh()
    listing = remediate.inventory._list

    def slow():
        time.sleep(3)
        return listing()

    monkeypatch.setattr(remediate.inventory, "_list", slow)
    (work / "hosts").write_text((work / "hosts").read_text() + "web9 ansible_connection=local\n")
    remediate.inventory.listed_at = -remediate.inventory.ttl  # and the listing is old too
    began = time.monotonic()
    assert remediate.explain(alert("web9"))[1].verdict == "refused", "the listing before it"
    assert time.monotonic() - began < 1
    remediate.inventory.keep_fresh()  # what the worker thread does next
    assert remediate.explain(alert("web9"))[1].verdict == "accepted"
