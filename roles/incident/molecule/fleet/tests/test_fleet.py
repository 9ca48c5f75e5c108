"""After both rollouts: the hosts that could be fixed serve ready, the bad one kept its release and config."""

from __future__ import annotations

import json


def test_state(host):
    health = host.run("curl -s --max-time 3 http://127.0.0.1:8080/health").stdout
    release = host.file("/opt/demo-app/current").linked_to
    if host.backend.hostname.endswith("-2"):
        assert release.endswith("/releases/1.1.0"), "the bad host still runs what it ran: no worse"
        assert json.loads(health)["status"] != "ready"
    else:
        assert release.endswith("/releases/1.0.0")
        assert json.loads(health)["status"] == "ready"
        assert host.service("demo-app.service").is_running
