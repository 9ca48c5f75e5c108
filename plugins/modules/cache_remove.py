#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: cache_remove
short_description: Remove condemned cache artifacts, never through a link and never one that changed
version_added: 0.2.0
description:
  - Removes the artifacts M(incident.remediation.artifact_digest) condemned (its
    RV(incident.remediation.artifact_digest#module:condemned) list), minutes after that verification, without
    trusting anything that happened in between.
  - O(root) is opened as a directory without following a symlink, then each folder of an artifact's path without
    following one, each relative to the folder before. A folder that became a symlink (or a file) since the
    verification stops there; nothing under it is removed, nothing outside O(root) can be.
  - The artifact is then looked at again, without following it, and unlinked only if it is still what it was
    condemned for. A file must still have the sha256 it was condemned with (read through the same folder, the
    file opened without following a link), a symlink must still point where it pointed. Anything else is
    refused, and the refusal says what it is now.
  - Every artifact is checked for a plain relative path and what it is to be checked against before anything is
    removed; one bad entry removes nothing.
  - An artifact already gone is reported in RV(absent), not as a failure.
  - The module fails when anything was refused, after removing the artifacts that were still what they were
    condemned for, naming each refusal and each removal. Verify the cache again and find who changed it.
  - In check mode it opens and checks everything the same way, removes nothing, and reports in RV(removed) what
    it would remove.
author: incident.remediation contributors
attributes:
  check_mode:
    support: full
    description: Checks every artifact, removes nothing, reports what it would remove.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: full
    details: An artifact removed once is reported in RV(absent) the next time.
options:
  root:
    description:
      - The cache directory the artifact paths are relative to. It must be the directory itself, not a symlink to
        it; the folders above it are the operator's.
    type: path
    required: true
  artifacts:
    description:
      - The artifacts to remove, as M(incident.remediation.artifact_digest) returns them in
        RV(incident.remediation.artifact_digest#module:condemned).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Path relative to O(root), with no empty, C(.) or C(..) part.
        type: str
        required: true
      type:
        description: What it was when it was condemned.
        type: str
        required: true
        choices: [file, link, special]
      sha256:
        description: For V(file), the digest it was condemned with; a file with any other digest is kept.
        type: str
      target:
        description: For V(link), where it pointed; a link pointing elsewhere is kept.
        type: str
seealso:
  - module: incident.remediation.artifact_digest
"""

EXAMPLES = r"""
- name: Verify the cache against its manifest
  incident.remediation.artifact_digest:
    root: /var/cache/demo-app
    manifest: /var/cache/demo-app/manifest.sha256
  register: cache_state

# ... evidence archived, a person or the tamper threshold consulted ...

- name: Remove the corrupted and unexpected artifacts, if they are still what was verified
  incident.remediation.cache_remove:
    root: /var/cache/demo-app
    artifacts: "{{ cache_state.condemned }}"

- name: Remove one artifact by hand, only if it still has the digest seen in the evidence
  incident.remediation.cache_remove:
    root: /var/cache/demo-app
    artifacts:
      - path: artifact-02.bin
        type: file
        sha256: 5b8f6e9a4c2d1e0f3a7b9c8d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f
"""

RETURN = r"""
removed:
  description: Paths removed (in check mode, the paths that would be removed).
  returned: always
  type: list
  elements: str
  sample: [artifact-02.bin]
absent:
  description: Paths already gone, or under a folder already gone.
  returned: always
  type: list
  elements: str
  sample: []
refused:
  description: Artifacts not removed because they, or a folder on their path, changed since they were condemned.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Path relative to O(root).
      type: str
    reason:
      description: What changed, and what it is now.
      type: str
  sample:
    - path: models/b.bin
      reason: "models is no longer a directory: now a symlink to /etc"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.digest import ARTIFACT_TYPES, remove_confined
from ansible_collections.incident.remediation.plugins.module_utils.errors import ManifestError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "artifacts": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "str", "required": True},
                    "type": {"type": "str", "required": True, "choices": list(ARTIFACT_TYPES)},
                    "sha256": {"type": "str"},
                    "target": {"type": "str"},
                },
            },
        },
        supports_check_mode=True,
    )
    root = module.params["root"]
    try:
        done = remove_confined(root, module.params["artifacts"], check_mode=module.check_mode)
    except ManifestError as exc:
        module.fail_json(msg=f"refusing, nothing removed under {root}: artifact {exc}")
    except OSError as exc:
        module.fail_json(
            msg=f"cannot open the cache root {root} as a directory without following a link ({exc.strerror}): "
            "nothing removed. Give the cache directory itself, not a symlink to it."
        )
    result = {"changed": bool(done["removed"]), **done}
    if done["refused"]:
        total = len(module.params["artifacts"])
        reasons = "; ".join(f"{r['path']}: {r['reason']}" for r in done["refused"])
        removed = ", ".join(done["removed"]) or "nothing"
        module.fail_json(
            msg=f"refused to remove {len(done['refused'])} of {total} artifacts under {root}, they changed since "
            f"they were verified: {reasons}. {'Would remove' if module.check_mode else 'Removed'}: {removed}. "
            "Nothing outside the cache was touched; verify the cache again and find out who changed it.",
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
