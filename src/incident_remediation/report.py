"""A job's post-incident report, rendered by the collection's own renderer from the job's timeline.

The renderer lives once, in the collection (plugins/plugin_utils/incident_report.py), so the
callback, an AWX job and this front end write the same report. It is found through the
collections path of the configured ansible.cfg.
"""

from __future__ import annotations

from incident_remediation.config import Config
from incident_remediation.runner import collection_module, timelines

RENDERER = "ansible_collections.incident.remediation.plugins.plugin_utils.incident_report"


def renderer(config: Config):
    try:
        return collection_module(config, RENDERER)
    except ImportError as exc:
        raise FileNotFoundError(
            f"the incident.remediation collection is not in the collections path of "
            f"{config.ansible_config or 'the default ansible.cfg'}: {exc}"
        ) from None


def job_report(config: Config, job: dict) -> str:
    """The Markdown report of every incident the job recorded."""
    files = timelines(config, job["id"])
    if not files:
        raise FileNotFoundError(f"job {job['id']} ({job['state']}) recorded no incident timeline")
    module = renderer(config)
    return "\n\n".join(module.render(module.read_events(path)) for path in files)
