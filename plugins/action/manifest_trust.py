# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""manifest_trust: verify a host's cache manifest on the controller (seed 000, runbooks 3B and 4C).

The manifest and its signature are read from the host (ansible.builtin.slurp, read-only); the public key is a
controller file; the trusted copy is fetched by the controller. The decisions are
plugins/plugin_utils/manifest_trust.py. Documentation: plugins/modules/manifest_trust.py.
"""

from __future__ import annotations

import base64
import os

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.module_utils.text import redact_userinfo
from ansible_collections.incident.remediation.plugins.plugin_utils.manifest_trust import (
    TrustError,
    fetch_trusted,
    verify_manifest,
)

ARGUMENTS = {
    "manifest": {"type": "str", "required": True},
    "signature": {"type": "str", "default": ""},
    "public_key": {"type": "str", "default": ""},
    "trusted_url": {"type": "str", "default": ""},
    "timeout": {"type": "int", "default": 10},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _read(self, path: str, task_vars: dict) -> tuple[bytes | None, str]:
        """The bytes of ``path`` on the host, or None and why not."""
        read = self._execute_module(module_name="ansible.builtin.slurp", module_args={"src": path}, task_vars=task_vars)
        if read.get("failed"):
            return None, str(read.get("msg") or "cannot be read")
        return base64.b64decode(read["content"]), ""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "?")
        manifest_path, key_path, url = args["manifest"], args["public_key"], args["trusted_url"]
        signature_path = args["signature"] or f"{manifest_path}.sig"
        if not (key_path or url):
            return {**result, "changed": False, "configured": False, "ok": None, "checks": [],
                    "msg": "no public key and no trusted URL configured: the manifest is not verified"}  # fmt: skip
        if not 1 <= args["timeout"] <= 300:
            return {**result, "failed": True, "msg": f"timeout must be 1 to 300 seconds, got {args['timeout']}"}
        where = f"{manifest_path} on {host}"
        try:
            manifest, why = self._read(manifest_path, task_vars)
            if manifest is None:
                raise TrustError(f"the manifest {where} cannot be read: {why}")
            public_key = signature = trusted = None
            if key_path:
                try:
                    with open(os.path.expanduser(key_path), "rb") as handle:
                        public_key = handle.read()
                except OSError as exc:
                    raise TrustError(
                        f"the public key {key_path} cannot be read on the controller: {exc.strerror}"
                    ) from exc
                signature, _ = self._read(signature_path, task_vars)
            if url:
                trusted = fetch_trusted(url, args["timeout"])
            verdict = verify_manifest(manifest, public_key=public_key, signature=signature, trusted=trusted,
                                      url=redact_userinfo(url), where=where)  # fmt: skip
        except TrustError as exc:
            said = f"refusing, nothing changed: {redact_userinfo(str(exc))}: its trust is not known"
            return {**result, "failed": True, "configured": True, "ok": None, "msg": said}
        return {**result, "changed": False, "configured": True, "signature": signature_path if key_path else "",
                **verdict, "msg": verdict["reason"]}  # fmt: skip
