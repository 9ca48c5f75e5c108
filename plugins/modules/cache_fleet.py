#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/cache_fleet.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: cache_fleet
short_description: Decide a cache purge for the whole fleet - corruption counted across hosts, tampering stops the group
version_added: 0.2.0
description:
  - "Seed 000, runbook 4B: tampering is a fleet event. From every host's report of its verification (run once for
    the play), corrupted and unexpected artifacts are counted across the hosts of each group against
    O(threshold): one corrupted artifact on each of ten hosts is ten."
  - Suspected tampering (more than O(threshold) in a group, or a manifest that failed its verification on any
    of its hosts, which O(allow_tampered) does not lift) stops the service on every host of the group, inside
    the play or not, and raises one escalation for the group, on the first host of the play with findings.
  - Decides only; changes nothing. The rules are plugins/plugin_utils/cache_fleet.py.
author: incident.remediation contributors
options:
  reports:
    description:
      - Host name to its report of this run, C({token, group, group_hosts, clean, corrupted, unexpected, manifest}).
      - A report of another O(token) (an earlier run in the play) is not counted.
    type: dict
    required: true
  token:
    description: This run's token.
    type: str
    required: true
  threshold:
    description: More corrupted and unexpected artifacts than this in a group is suspected tampering.
    type: int
    required: true
  allow_tampered:
    description: A person reviewed the evidence - the count no longer stops the group (a failed manifest still does).
    type: bool
    default: false
extends_documentation_fragment:
  - incident.remediation.controller_action
"""

EXAMPLES = r"""
- name: Decide once for the hosts of the play
  incident.remediation.cache_fleet:
    reports: "{{ dict(ansible_play_batch | zip(ansible_play_batch | map('extract', hostvars)
      | map(attribute='_cache_purge_report', default={}))) }}"
    token: "{{ _cache_purge_run }}"
    threshold: 1
  run_once: true
  register: fleet
"""

RETURN = r"""
security:
  description: Whether any group is suspected of tampering.
  returned: always
  type: bool
stop:
  description: Every host whose service is to be stopped, sorted.
  returned: always
  type: list
  elements: str
archive:
  description: The hosts stopped whose cache no evidence step of theirs archives (not the play's hosts with findings).
  returned: always
  type: list
  elements: str
escalations:
  description:
    - One per group suspected, C({group, kind, raised_on, stop, reporting, corrupted, unexpected, threshold,
      findings, manifest_failed, reason, counted}); kind V(tampering) or V(manifest).
  returned: always
  type: list
  elements: dict
hosts:
  description: Each reporting host, C({group, stopped, raises, escalation, fleet_bad}).
  returned: always
  type: dict
"""
