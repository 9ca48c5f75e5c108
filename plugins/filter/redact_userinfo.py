# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: redact_userinfo
short_description: Hide the user and password of every URL in a text or a structure
version_added: 0.2.0
description:
  - Replaces the user information of each URL (C(user:password@), or a token as C(token@)) with C(***), also a
    C(user:password@host) written without a scheme, in a string or in every string of a list or mapping.
  - For messages and records (a task's C(fail_msg), a timeline, a report) that name a URL which may carry
    credentials, such as a proxy setting. The same function redacts the timeline callback's records and the
    M(incident.remediation.unit_environment) results.
author: incident.remediation contributors
positional: _input
options:
  _input:
    description: A string, or a list or mapping of them (other values are returned as they are).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse, naming the URL without its credentials
  ansible.builtin.fail:
    msg: "not a proxy URL: {{ proxy_url | incident.remediation.redact_userinfo }}"
  # http://admin:hunter2@proxy:3128 is shown as http://***@proxy:3128
"""

RETURN = r"""
_value:
  description: The input with every URL's user and password replaced by C(***).
  type: raw
"""

from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.incident.remediation.plugins.module_utils.text import redact


def redact_userinfo(value):
    """The redacted value, marked unsafe: what it is given may be alert data, never to be a template again."""
    return wrap_var(redact(value))


class FilterModule:
    def filters(self):
        return {"redact_userinfo": redact_userinfo}
