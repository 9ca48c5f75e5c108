"""The system packs (inventories/<system>/, issue 24): their service description, receiver routes, Alertmanager
snippet and docs/systems/<system>.md against their own Prometheus rules. Every alert of a pack's rules is either
mapped in the service description or left to people in the doc; a mapped alert, with the labels its rule gives
it, plans (the incident_plan filter, as the incident role calls it) to the ladder its runbook orders, written
here from the runbooks (seeds 000-003), not read back from the group_vars; the receiver's configuration (loaded by
config.py, and `remediate route`) takes it to the pack's route on the alert's host; the Alertmanager snippet
passes the real `amtool check-config`; every runbook_url of the rules is a heading of the pack's doc. A pack
added later is found by the glob; EXPECTED must then say its runbook's ladders."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.incident.remediation.plugins.filter.incident_plan import incident_plan
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import OPTIONS
from ansible_collections.incident.remediation.plugins.modules.prometheus_query import _CONDITION_OPTIONS, query_problem

from incident_remediation import config as config_module
from incident_remediation.routing import decide
from incident_remediation.webhook import parse_alert

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted(path.parents[1] for path in ROOT.glob("inventories/*/prometheus/rules.yml"))
DEFAULTS = yaml.safe_load((ROOT / "roles/incident/defaults/main.yml").read_text())
REMEDIATE = str(Path(sys.executable).parent / "remediate")

PROVIDER_URL = "http://127.0.0.1:3000/api/providers/openai"  # seed 001 4.1, the openai route's (remediate.yml)
CACHING_AND_BATCHING = {  # seed 003 HighLatencyP95, Scenario A's cache and Scenario B's HALO optimizations
    "htdag.cache_enabled": True,
    "htdag.cache_ttl_seconds": 3600,
    "halo.rule_indexing": True,
    "halo.agent_pool_enabled": True,
    "halo.batch_routing": True,
}
HUMAN = None  # the runbook leaves the alert to people: diagnosed only, listed in the doc's "Left to people"

# alert -> the ladder the runbook orders: (mitigation, the options that differ from the mitigation's defaults).
# From the runbooks themselves (docs/systems/<system>.md says why each is what it is).
EXPECTED: dict[str, dict[str, list | None]] = {
    "oneiric": {  # seed 000
        "OneiricResolutionFailureRateHigh": HUMAN,  # runbook 1: every scenario is a judgement (A-D)
        "OneiricLifecycleSwapFailureRateHigh": HUMAN,  # runbook 2: the cause first, the swap is Oneiric's CLI
        "OneiricRemoteSyncConsecutiveFailures": HUMAN,  # runbook 3: network, signature (security), digest, breaker
        "OneiricDigestVerificationFailed": [("cache_purge", {})],  # runbook 4: purge one, stop the group on more
        "OneiricActiveInstancesExtremelyHigh": [("memory_limit", {}), ("restart", {})],  # runbook 5: C, else A
    },
    "omniroute": {  # seed 001: 0:12 mitigate first; 4.1-4.3
        "OmniRouteErrorBudgetBurnFast": [("rollback", {"force": True})],
        "OmniRouteErrorBudgetBurnSlow": [("rollback", {"force": True})],
        "OmniRouteHealthPingFailing": [("rollback", {})],  # only when the replica is unhealthy on the host
        "OmniRouteProviderDown": [
            ("config_change", {"api_url": PROVIDER_URL, "body": {"isActive": False}, "apply": "none"}),
        ],
        "OmniRouteLatencyRegression": [("rollback", {"force": True})],
        "OmniRouteAuthLayerBroken": HUMAN,  # 4.3: restore the policies (a script) before any rollback
    },
    "supervisor": {  # seed 002
        "SupervisorCrashed": [("restart", {})],  # P1-001 step 4
        "SupervisorDashboardDisconnected": [("restart", {"unit": "relay.service"}), ("restart", {})],  # P1-003 3, 4
        "SupervisorChildCrashLoop": HUMAN,  # P1-002: remove_child() is the application's API
        "SupervisorRuntimeStarvation": HUMAN,  # P1-004: quarantine_child() is the application's API
    },
    "genesis": {  # seed 003
        "GenesisServiceDown": [("restart", {}), ("rollback", {})],  # step 1 restart, step 2 rollback
        "HighErrorRate": [
            ("config_change", {"set": {"llm.enabled": False, "llm.fallback_mode": "heuristic"}}),  # 1 degrade
            ("restart", {}),  # 2 restart
            ("rollback", {}),  # 4 rollback
        ],
        "HighLatencyP95": [
            ("config_change", {"set": CACHING_AND_BATCHING}),  # 1 caching and batching
            ("rollback", {}),  # 4 rollback
        ],
        "TestPassRateLow": HUMAN,  # the test suite's mitigations, not the host's
    },
}
# What a rollback rung needs of each system's deployment (the runbook's): seed 001 bin/rollback.sh, seed 003 git.
ROLLBACK_STRATEGY = {"omniroute": "command", "genesis": "git"}


def pack_id(pack: Path) -> str:
    return pack.name


def alerting_rules(pack: Path) -> list[dict]:
    groups = yaml.safe_load((pack / "prometheus/rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def service_of(pack: Path) -> tuple[str, dict, dict]:
    """(service name, its description, the group_vars) of the pack's one group_vars file."""
    files = sorted((pack / "group_vars").glob("*.yml"))
    assert len(files) == 1, f"{pack}: one group_vars file, the service's group, expected: {files}"
    group_vars = yaml.safe_load(files[0].read_text())
    assert list(group_vars["services"]) == [pack.name], "the service is named after the pack (the rules' label)"
    return pack.name, group_vars["services"][pack.name], group_vars


def first_host(pack: Path) -> str:
    hosts = yaml.safe_load((pack / "hosts.yml").read_text())["all"]["children"][pack.name]["hosts"]
    return next(iter(hosts))


def instance_of(pack: Path) -> str:
    """The instance label the scrape gives the first host: host:port, the port the group_vars say."""
    return f"{first_host(pack)}:{service_of(pack)[2][f'{pack.name}_port']}"


def synthetic_alert(pack: Path, rule: dict) -> dict:
    """The alert Alertmanager would send for the rule on the pack's first host: the rule's labels, the scrape's."""
    labels = {"alertname": rule["alert"], "instance": instance_of(pack), "job": pack.name,
              **rule["labels"]}  # fmt: skip
    if "provider" in rule["expr"]:
        labels["provider"] = "openai"
    if "child" in rule["expr"]:
        labels["child"] = "worker-1"
    return {"status": "firing", "labels": labels, "annotations": dict(rule["annotations"]),
            "startsAt": "2026-12-01T23:00:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up",
            "fingerprint": "0123456789abcdef"}  # fmt: skip


def doc_of(pack: Path) -> str:
    path = ROOT / "docs/systems" / f"{pack.name}.md"
    assert path.is_file(), f"{path} is missing"
    return path.read_text()


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of the headings: lower case, punctuation but - and _ dropped, spaces to -."""
    found = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6} (.+?)\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def left_to_people(markdown: str) -> set[str]:
    """The alerts named in backticks in the doc's "Left to people" section."""
    section = re.search(r"^## Left to people\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert section, "the doc has no '## Left to people' section"
    return set(re.findall(r"`([A-Za-z][A-Za-z0-9]*)`", section.group(1)))


def plan(pack: Path, alert: dict, options: dict | None = None, diagnose_only: bool = False) -> dict:
    _, _, group_vars = service_of(pack)
    return incident_plan(alert, services=group_vars["services"], options=options or {},
                         levels=group_vars.get("incident_severity_levels", DEFAULTS["incident_severity_levels"]),
                         act_on=group_vars.get("incident_act_on", DEFAULTS["incident_act_on"]),
                         diagnose_only=diagnose_only)  # fmt: skip


def given(rung: dict) -> tuple[str, dict]:
    """A rung as (mitigation, the options that are not the mitigation's defaults)."""
    defaults = OPTIONS[rung["mitigation"]]
    return rung["mitigation"], {k: v for k, v in rung["options"].items() if defaults.get(k) != v}


def routes_of(pack: Path):
    return config_module.load(pack / "remediate.yml")


def test_the_four_systems_have_a_pack_and_a_ladder_table():
    assert {"oneiric", "omniroute", "supervisor", "genesis"} <= {pack.name for pack in PACKS}
    assert sorted(EXPECTED) == [pack.name for pack in PACKS], "a new pack needs its runbook's ladders in EXPECTED"


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_every_alert_is_mapped_or_left_to_people_in_the_doc(pack):
    _, service, _ = service_of(pack)
    names = {rule["alert"] for rule in alerting_rules(pack)}
    assert set(EXPECTED[pack.name]) == names, "the table names exactly the pack's alerts"
    mapped, humans = set(service.get("alerts") or {}), left_to_people(doc_of(pack))
    assert mapped <= names, f"mapped alerts no rule raises: {sorted(mapped - names)}"
    assert mapped.isdisjoint(humans), f"both mapped and left to people: {sorted(mapped & humans)}"
    assert names <= mapped | humans, f"neither mapped nor left to people in the doc: {sorted(names - mapped - humans)}"
    assert humans & names == {name for name, ladder in EXPECTED[pack.name].items() if ladder is HUMAN}


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_each_alert_plans_the_runbooks_ladder(pack):
    config = routes_of(pack)
    for rule in alerting_rules(pack):
        alert = synthetic_alert(pack, rule)
        decision = decide(parse_alert(alert), config.routes)
        route = decision.route
        assert route is not None and route.playbook == "incident.remediation.remediate", decision.trace
        # the options and flags the receiver's route passes, as the playbook gets them (extra vars)
        decided = plan(pack, alert, options=route.variables.get("options"),
                       diagnose_only=bool(route.variables.get("diagnose_only")))  # fmt: skip
        assert decided["service"] == pack.name
        expected = EXPECTED[pack.name][rule["alert"]]
        if expected is HUMAN:
            assert not decided["act"] and decided["mitigation"] == "", (rule["alert"], decided["decision"])
            assert "an operator decides" in decided["decision"]
            continue
        assert decided["act"], (rule["alert"], decided["decision"])  # its severity acts (P0/P1, SEV-1/2)
        assert [given(rung) for rung in decided["ladder"]] == expected, rule["alert"]


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_the_receiver_routes_each_alert_to_its_host(pack):
    config = routes_of(pack)
    assert config.token_file and not config.token_file.endswith("remediate.yml"), "the token comes from a file"
    assert Path(config.inventory) == pack / "hosts.yml"
    for rule in alerting_rules(pack):
        decision = decide(parse_alert(synthetic_alert(pack, rule)), config.routes)
        assert decision.runs, (rule["alert"], decision.refused, decision.trace)
        assert decision.target == first_host(pack)
        assert decision.route.alertname == rule["alert"] and decision.route.service == pack.name
        assert decision.route.name.startswith(f"{pack.name}-")
        resolved = parse_alert({**synthetic_alert(pack, rule), "status": "resolved"})
        assert not decide(resolved, config.routes).runs  # a resolution cancels, never runs


def test_a_provider_no_route_names_is_only_diagnosed():
    """OmniRoute 4.1: the provider's URL is the route's, matched by equality; any other provider is people's."""
    pack = ROOT / "inventories/omniroute"
    rule = next(rule for rule in alerting_rules(pack) if rule["alert"] == "OmniRouteProviderDown")
    alert = synthetic_alert(pack, rule)
    for provider, api_url in (("anthropic", "http://127.0.0.1:3000/api/providers/anthropic"),
                              ("../settings/authz-inventory", None), ("mistral", None)):  # fmt: skip
        alert["labels"]["provider"] = provider
        route = decide(parse_alert(alert), routes_of(pack).routes).route
        decided = plan(pack, alert, options=route.variables.get("options"),
                       diagnose_only=bool(route.variables.get("diagnose_only")))  # fmt: skip
        if api_url:
            assert decided["act"] and decided["ladder"][0]["options"]["api_url"] == api_url
        else:
            assert route.name == "omniroute-provider-down-unknown" and not decided["act"], decided["decision"]


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_remediate_route_shows_the_packs_route_and_host(pack, tmp_path):
    """`remediate route` with the pack's own configuration (its inventory listed by ansible-inventory)."""
    rule = next(rule for rule in alerting_rules(pack) if EXPECTED[pack.name][rule["alert"]] is not HUMAN)
    (tmp_path / "alert.json").write_text(json.dumps(synthetic_alert(pack, rule)))
    done = subprocess.run([REMEDIATE, "--config", str(pack / "remediate.yml"), "route", str(tmp_path / "alert.json")],
                          capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    route = decide(parse_alert(synthetic_alert(pack, rule)), routes_of(pack).routes).route
    assert f"route {route.name}: matches" in done.stdout
    assert "verdict: accepted" in done.stdout, done.stdout
    assert f"would run: incident.remediation.remediate --limit {first_host(pack)}" in done.stdout
    assert f'"service": "{pack.name}"' in done.stdout


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_the_alertmanager_snippet_passes_amtool(pack):
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: scripts/setup installs Debian's prometheus-alertmanager, which ships it"
    done = subprocess.run([amtool, "check-config", str(pack / "alertmanager.yml")], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
    settings = yaml.safe_load((pack / "alertmanager.yml").read_text())
    route = next(r for r in settings["route"]["routes"] if r["receiver"] == f"remediate-{pack.name}")
    assert route["matchers"] == [f'service="{pack.name}"'] and route.get("continue") is True
    assert {"alertname", "instance"} <= set(route["group_by"]) or route["group_by"] == ["..."]
    receiver = next(r for r in settings["receivers"] if r["name"] == route["receiver"])
    (webhook,) = receiver["webhook_configs"]
    assert webhook["send_resolved"] is True and webhook["url"].endswith("/alerts")
    authorization = webhook["http_config"]["authorization"]
    assert authorization["type"] == "Bearer" and authorization["credentials_file"].startswith("/")
    assert "credentials" not in authorization, "the token comes from a file, never the config"


def test_amtool_fails_a_broken_snippet(tmp_path):
    """The check above can fail: a receiver the route names but no one defines is refused."""
    broken = yaml.safe_load((PACKS[0] / "alertmanager.yml").read_text())
    broken["receivers"] = [r for r in broken["receivers"] if r["name"] == "people"]
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(broken))
    done = subprocess.run([shutil.which("amtool") or "amtool", "check-config", str(tmp_path / "alertmanager.yml")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_every_runbook_url_is_a_heading_of_the_doc(pack):
    found = anchors(doc_of(pack))
    for rule in alerting_rules(pack):
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == f"docs/systems/{pack.name}.md", url
        assert anchor in found, f"{rule['alert']}: #{anchor} is no heading of {path}"


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_the_description_has_what_its_ladders_need(pack):
    _, service, group_vars = service_of(pack)
    rungs = {rung for ladder in EXPECTED[pack.name].values() if ladder for rung, _ in ladder}
    if "rollback" in rungs:
        assert service["rollback_strategy"] == ROLLBACK_STRATEGY[pack.name]
    for query in service.get("verify_queries", []) + service.get("diagnosis_queries", []):
        assert f"{{{{ {pack.name}_instance }}}}" in query["query"] or "_global" in query["query"], (
            f"scoped to the host the alert names: {query['query']}"
        )
    # the diagnosis queries as prometheus_query takes them (names, count, no condition): its own check
    params = {**dict.fromkeys(_CONDITION_OPTIONS), "queries": service.get("diagnosis_queries", []),
              "max_series": DEFAULTS["incident_diagnosis_max_series"], "max_text": 200}  # fmt: skip
    assert query_problem(params) == ""
    assert group_vars["incident_silence_on_failure"] == "expire", "a failed mitigation pages people at once"
    for level in group_vars["incident_severity_levels"].values():
        assert level in ("P0", "P1", "P2", "P3")


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_the_descriptions_queries_are_promql_promtool_accepts(pack, tmp_path):
    """Every verify, diagnosis and memory query of the description parses (as a recording rule, on the host)."""
    _, service, _ = service_of(pack)
    queries = [q["query"] for q in service.get("verify_queries", []) + service.get("diagnosis_queries", [])]
    queries += [service["memory"][key] for key in ("instances_query", "leak_query") if key in service.get("memory", {})]
    scoped = f"{{{{ {pack.name}_instance }}}}"
    rules = [{"record": f"pack:query_{number}", "expr": query.replace(scoped, instance_of(pack))}
             for number, query in enumerate(queries)]  # fmt: skip
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/setup installs Debian's prometheus package, which ships it"
    done = subprocess.run([promtool, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_the_docs_plan_command_prints_the_runbooks_ladder(pack, tmp_path):
    """The doc's "What an alert would do", as written: real Ansible templates the group_vars and plans the alert."""
    doc = doc_of(pack)
    section = re.search(r"^## What an alert would do\n(.*?)(?=^## )", doc, re.S | re.M)
    assert section, "the doc has no '## What an alert would do' section"
    (tmp_path / "plan.json").write_text(re.search(r"<<'END'\n(.*?)\nEND\n", section.group(1), re.S).group(1))
    command = re.search(r"^(ansible -i .*?)\n```", section.group(1), re.S | re.M).group(1).replace("\\\n", " ")
    argv = shlex.split(command.replace("@plan.json", f"@{tmp_path / 'plan.json'}"))
    environment = {
        **os.environ,
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
    }
    done = subprocess.run([str(Path(sys.executable).parent / argv[0]), *argv[1:]], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (result,) = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"].values()
    alert = json.loads((tmp_path / "plan.json").read_text())["alert"]["labels"]["alertname"]
    assert result["msg"]["act"] and result["msg"]["service"] == pack.name, result["msg"]["decision"]
    assert [given(rung) for rung in result["msg"]["ladder"]] == EXPECTED[pack.name][alert]
