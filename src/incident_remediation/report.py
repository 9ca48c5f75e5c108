"""A job's post-incident report, rendered by the collection's own renderer from the job's timeline.

The renderer lives once, in the collection (plugins/plugin_utils/incident_report.py), so the
callback, an AWX job and this front end write the same report. It is found through the
collections path of the configured ansible.cfg.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from incident_remediation.config import Config
from incident_remediation.runner import timelines

RENDERER = "ansible_collections.incident.remediation.plugins.plugin_utils.incident_report"


def renderer(config: Config):
    if RENDERER not in sys.modules:
        from ansible.config.manager import ConfigManager  # noqa: PLC0415  (ansible's config: only to render)

        paths = ConfigManager(conf_file=config.ansible_config or None).get_config_value("COLLECTIONS_PATHS")
        for path in paths:
            if path not in sys.path and (Path(path) / "ansible_collections").is_dir():
                sys.path.append(path)
    try:
        return importlib.import_module(RENDERER)
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
