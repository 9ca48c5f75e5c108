"""host_evidence: where a service's running version is read, from its description (services.NAME)."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.host_evidence import version_spec


def test_no_version_source_reads_no_version():
    assert version_spec({"unit": "demo-app.service", "release_root": "/opt/demo-app"}) == {}


def test_each_source_takes_what_the_service_already_describes():
    assert version_spec({"version_source": "symlink", "release_root": "/opt/demo-app"}) == {
        "source": "symlink", "path": "/opt/demo-app"}  # fmt: skip
    assert version_spec({"version_source": "git", "git_repo": "/home/genesis/genesis-rebuild"}) == {
        "source": "git", "path": "/home/genesis/genesis-rebuild"}  # fmt: skip
    assert version_spec({"version_source": "url", "version_url": "http://127.0.0.1:20128/api/system/version"}) == {
        "source": "url", "url": "http://127.0.0.1:20128/api/system/version", "field": "version"}  # fmt: skip
    assert version_spec({"version_source": "url", "version_url": "http://h/v", "version_field": "build.sha"})[
        "field"] == "build.sha"  # fmt: skip
    assert version_spec({"version_source": "command", "version_command": ["/opt/app/bin/version"]}) == {
        "source": "command", "command": ["/opt/app/bin/version"]}  # fmt: skip


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ({"version_source": "svn"}, "version_source 'svn' is not one of symlink, git, url, command"),
        ({"version_source": "symlink"}, "version_source symlink reads release_root, which the service does not have"),
        ({"version_source": "git", "git_repo": ""}, "version_source git reads git_repo"),
        ({"version_source": "url"}, "version_source url reads version_url"),
        ({"version_source": "command", "version_command": "/bin/v"}, "version_command must be an argv list"),
    ],
)
def test_a_source_the_service_cannot_read_is_refused(service, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        version_spec(service)
