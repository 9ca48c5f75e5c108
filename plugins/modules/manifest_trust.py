#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/manifest_trust.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: manifest_trust
short_description: Verify a cache manifest on the controller, by Ed25519 signature or against a trusted copy
version_added: 0.2.0
description:
  - "Seed 000, runbooks 3B and 4C: the manifest every artifact is judged by is itself verified before anything is
    trusted. Either or both: an Ed25519 signature of the manifest's bytes, checked with O(public_key), and a
    trusted copy fetched from O(trusted_url), compared by sha256."
  - The manifest and its signature are read from the host (M(ansible.builtin.slurp), read-only); the key is a
    controller file; the trusted copy is fetched by the controller within O(timeout). What is read is data,
    compared as bytes.
  - Two kinds of "no". The check could not be made (the key unreadable, the trusted copy not fetched, the manifest
    unreadable) - the task fails, C(refusing, nothing changed ...), never a pass. The check was made and failed (a
    bad, malformed or missing signature while a key is configured, a copy that differs) - RV(ok) is false and
    the task does not fail, so the caller decides (the cache purge treats it as suspected tampering).
  - Read-only, it runs the same way in check mode.
author: incident.remediation contributors
options:
  manifest:
    description: The manifest's path on the host.
    type: str
    required: true
  signature:
    description: The signature's path on the host, raw 64 bytes or base64; empty is O(manifest) with C(.sig).
    type: str
    default: ""
  public_key:
    description: The Ed25519 public key on the controller, PEM or the base64 of its 32 raw bytes.
    type: str
    default: ""
  trusted_url:
    description: An http(s) URL of the trusted copy of the manifest (credentials in it never reach a message).
    type: str
    default: ""
  timeout:
    description: Seconds, 1 to 300, for the trusted copy to arrive.
    type: int
    default: 10
extends_documentation_fragment:
  - incident.remediation.controller_action
notes:
  - The manifest and signature are read from the host with M(ansible.builtin.slurp); the checks run on the controller.
seealso:
  - module: incident.remediation.artifact_digest
"""

EXAMPLES = r"""
- name: Verify the manifest before any artifact is judged by it
  incident.remediation.manifest_trust:
    manifest: /var/cache/demo-app/manifest.sha256
    public_key: /etc/incident-remediation/manifest-signing.pub
    trusted_url: https://manifests.example.com/oneiric/manifest.sha256
  register: trust
"""

RETURN = r"""
configured:
  description: Whether a key or a URL was given (without either nothing is verified and RV(ok) is null).
  returned: always
  type: bool
ok:
  description: Every configured check passed; null when nothing was checked.
  returned: always
  type: bool
sha256:
  description: The sha256 of the manifest's bytes as checked.
  returned: when a check was made
  type: str
checks:
  description: Each check made, C({ok, method, reason}), method V(signature) or V(trusted_copy).
  returned: always
  type: list
  elements: dict
reason:
  description: The first failed check's reason, or what passed.
  returned: when a check was made
  type: str
signature:
  description: The signature's path on the host, when a key is configured.
  returned: when a check was made
  type: str
"""
