# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules that talk HTTP; documented in doc_fragments/http_api.py."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback
from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient


def http_api_spec(url_env: str | None = None, token_env: str | None = None, timeout: float = 10) -> dict:
    """url, timeout, TLS and auth options; ``url_env``/``token_env`` name environment fallbacks."""
    url = {"type": "str", "required": True}
    if url_env:
        url["fallback"] = (env_fallback, [url_env])
    token = {"type": "str", "no_log": True}
    if token_env:
        token["fallback"] = (env_fallback, [token_env])
    return {
        "url": url,
        "timeout": {"type": "float", "default": timeout},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "headers": {"type": "dict", "default": {}},
        "bearer_token": token,
    }


def client_from_params(params: dict, follow_redirects: bool = True) -> HttpClient:
    headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
    if params.get("bearer_token"):
        headers["Authorization"] = f"Bearer {params['bearer_token']}"
    return HttpClient(
        timeout=params["timeout"],
        validate_certs=params["validate_certs"],
        ca_path=params.get("ca_path"),
        headers=headers,
        follow_redirects=follow_redirects,
    )


def check_positive(module, *names: str) -> None:
    """fail_json naming the first option that is negative (timeouts, waits, intervals)."""
    for name in names:
        value = module.params.get(name)
        if value is not None and value < 0:
            module.fail_json(msg=f"{name} must be >= 0, got {value}")
