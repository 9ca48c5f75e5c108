# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules that call an HTTP API (module_utils/arguments.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Seconds to wait for one HTTP answer.
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for test servers with self-signed certificates.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate, when it is not in the system store.
    type: path
  headers:
    description:
      - Extra HTTP headers sent with every request.
    type: dict
    default: {}
  bearer_token:
    description:
      - "Sent as C(Authorization: Bearer <token>). Never logged."
    type: str
"""
