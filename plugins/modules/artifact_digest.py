#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: artifact_digest
short_description: Verify the files under a root against a sha256 manifest
version_added: 0.1.0
description:
  - Compares every file listed in a manifest with its sha256 digest, and lists the files under O(root) that
    the manifest does not name.
  - The manifest is a JSON object or a flat YAML mapping of relative path to digest, or the output of
    C(sha256sum).
  - Safety first, since the cache purge role removes what this module reports. A manifest entry that is
    absolute, has a C(..) part, or resolves through symlinks outside O(root) is refused with an error, and
    nothing is verified. Symlinked directories under O(root) are not followed.
  - RV(condemned) lists every corrupted and unexpected path with what it is now, never following it (a file with
    its sha256, a symlink with its target), for M(incident.remediation.cache_remove), which removes an entry later
    only while it is still that. Unexpected files are read for their digest; a FIFO or device is only named.
  - Read-only, it runs the same way in check mode.
author: incident.remediation contributors
extends_documentation_fragment:
  - incident.remediation.read_only
options:
  root:
    description: The directory the manifest's paths are relative to (the cache).
    type: path
    required: true
  manifest:
    description: The manifest file. When it lies under O(root) it is not reported as unexpected.
    type: path
    required: true
  format:
    description: The manifest's format; V(auto) tells JSON, C(sha256sum) output and YAML apart.
    type: str
    choices: [auto, json, yaml, sha256sum]
    default: auto
  ignore:
    description: Shell-style patterns of paths under O(root) that are never reported as unexpected.
    type: list
    elements: str
    default: []
  fail_on_mismatch:
    description: Fail when anything is corrupted, missing or unexpected (a verification step).
    type: bool
    default: false
seealso:
  - module: incident.remediation.http_health
"""

EXAMPLES = r"""
- name: Diagnose - which cached artifacts no longer match the manifest (runbook "digest mismatch")
  incident.remediation.artifact_digest:
    root: /var/cache/demo-app
    manifest: /var/cache/demo-app/manifest.sha256
  register: cache_state

- name: Verify - after the re-sync, every artifact matches
  incident.remediation.artifact_digest:
    root: /var/cache/demo-app
    manifest: /var/cache/demo-app/manifest.sha256
    fail_on_mismatch: true
"""

RETURN = r"""
ok:
  description: Manifest paths whose file matches its digest.
  returned: always
  type: list
  elements: str
  sample: [artifact-01.bin]
corrupted:
  description: Manifest paths whose file has another digest.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Path relative to O(root).
      type: str
    expected:
      description: Digest in the manifest.
      type: str
    actual:
      description: Digest of the file.
      type: str
missing:
  description: Manifest paths with no file.
  returned: always
  type: list
  elements: str
unexpected:
  description: Files (and symlinks) under O(root) that the manifest does not name.
  returned: always
  type: list
  elements: str
condemned:
  description:
    - Every corrupted and unexpected path, sorted, with what it is now (not followed if a symlink); what
      M(incident.remediation.cache_remove) takes as O(incident.remediation.cache_remove#module:artifacts).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Path relative to O(root).
      type: str
    type:
      description: V(file), V(link), or V(special) (a FIFO, socket or device).
      type: str
    sha256:
      description: A file's digest now (for a corrupted artifact, its actual digest).
      type: str
      returned: when type is file
    target:
      description: Where a symlink points.
      type: str
      returned: when type is link
  sample: [{"path": "artifact-02.bin", "type": "file", "sha256": "0d9f...e1"}]
clean:
  description: Nothing corrupted, missing or unexpected.
  returned: always
  type: bool
manifest_sha256:
  description:
    - The sha256 of the manifest's bytes as read and verified against; the cache purge compares it with what the
      manifest's own verification (M(incident.remediation.manifest_trust)) checked, so that a manifest swapped in
      between is not trusted.
  returned: always
  type: str
summary:
  description: How many paths are in each list.
  returned: always
  type: dict
  sample: {"ok": 5, "corrupted": 1, "missing": 0, "unexpected": 0}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.digest import load_manifest_digest, verify
from ansible_collections.incident.remediation.plugins.module_utils.errors import ManifestError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "manifest": {"type": "path", "required": True},
            "format": {"type": "str", "choices": ["auto", "json", "yaml", "sha256sum"], "default": "auto"},
            "ignore": {"type": "list", "elements": "str", "default": []},
            "fail_on_mismatch": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    root, manifest_path = module.params["root"], module.params["manifest"]
    if not os.path.isdir(root):
        module.fail_json(msg=f"root {root} is not a directory")
    ignore = list(module.params["ignore"])
    real_root, real_manifest = os.path.realpath(root), os.path.realpath(manifest_path)
    if os.path.commonpath([real_root, real_manifest]) == real_root:
        ignore.append(os.path.relpath(real_manifest, real_root))
    try:
        manifest, manifest_sha256 = load_manifest_digest(manifest_path, root, module.params["format"])
        state = verify(root, manifest, ignore)
    except ManifestError as exc:
        module.fail_json(msg=f"refusing to verify {root}: {exc}")
    except OSError as exc:
        module.fail_json(msg=f"cannot read {exc.filename}: {exc.strerror}")
    summary = {key: len(state[key]) for key in ("ok", "corrupted", "missing", "unexpected")}
    clean = not (state["corrupted"] or state["missing"] or state["unexpected"])
    result = {"changed": False, "clean": clean, "summary": summary, "manifest_sha256": manifest_sha256, **state}
    if not clean and module.params["fail_on_mismatch"]:
        bad = [c["path"] for c in state["corrupted"]] + state["missing"] + state["unexpected"]
        module.fail_json(
            msg=f"{root} does not match {manifest_path}: {summary['corrupted']} corrupted, "
            f"{summary['missing']} missing, {summary['unexpected']} unexpected ({', '.join(bad[:10])})",
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
