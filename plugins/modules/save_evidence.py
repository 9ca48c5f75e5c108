#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/save_evidence.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: save_evidence
short_description: Write an incident's evidence files on the controller, without a module run per file
version_added: 0.1.0
description:
  - Writes each of O(files) (name to text) into O(dir) on the controller, creating O(dir) (mode 0700) when
    needed. Runs inside the controller's worker as an action plugin, so no module is sent anywhere, so saving
    the journal, status and kernel log of a host costs no round trip (M(ansible.builtin.copy) costs one
    module execution per file).
  - File names must be plain names (no C(/), no C(..)); an existing symlink in their place is refused, not
    followed. In check mode nothing is written.
author: incident.remediation contributors
options:
  dir:
    description: The evidence folder on the controller, for example C(<evidence_dir>/<incident>/<host>/diagnose).
    type: path
    required: true
  files:
    description: File name to content (text).
    type: dict
    required: true
  mode:
    description: Octal permissions of the files.
    type: raw
    default: "0600"
extends_documentation_fragment:
  - incident.remediation.controller_action
seealso:
  - module: incident.remediation.unit_evidence
"""

EXAMPLES = r"""
- name: Save what unit_evidence read
  incident.remediation.save_evidence:
    dir: "{{ evidence_dir }}/{{ incident_id }}/{{ inventory_hostname }}/diagnose"
    files:
      logs.txt: "{{ host_evidence.logs.journal }}"
      unit.json: "{{ host_evidence.unit | to_nice_json }}"
"""

RETURN = r"""
dir:
  description: The folder written to.
  returned: always
  type: str
files:
  description: The paths written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
"""
