"""Where a secret ended up: every file of a job's data directory and what remediate printed, searched for the
secret as written and base64-encoded (as a slurp or a copy's content would carry it)."""

from __future__ import annotations

import base64
import json
from pathlib import Path


def forms(secret: str) -> list[str]:
    """The secret as written, and base64-encoded at each of the three alignments (the characters that
    depend on the secret's bytes only, whatever is around it)."""
    raw, found = secret.encode(), [secret]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw + b"\0\0").decode()
        found.append(encoded[-(-8 * pad // 6) : 8 * (pad + len(raw)) // 6])
    return found


def recorded(path: Path) -> str:
    """A file's text; in a job event, without the incident plan's options (the operator's input as given,
    like the job's extra variables)."""
    text = path.read_bytes().decode("utf-8", "replace")
    if path.parent.name == "job_events":
        event = json.loads(text)
        facts = event.get("event_data", {}).get("res", {}).get("ansible_facts", {})
        if isinstance(facts.get("incident_plan"), dict):
            facts["incident_plan"].pop("options", None)
        text = json.dumps(event)
    return text


def leaks(folder: Path, output: str, secrets: list[str], skip: tuple[str, ...] = ()) -> list[str]:
    """Where (a file under ``folder`` whose name does not end with one of ``skip``, or remediate's output)
    any form of any secret is."""
    places = [(str(p.relative_to(folder)), recorded(p)) for p in folder.rglob("*")
              if p.is_file() and not p.name.endswith(skip)]  # fmt: skip
    places.append(("remediate's output", output))
    return sorted({f"{secret} in {where}" for secret in secrets for form in forms(secret) for where, text in places
                   if form in text})  # fmt: skip
