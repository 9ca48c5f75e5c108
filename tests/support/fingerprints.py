"""A fingerprint of what the mitigations touch on a host, to prove a run left it byte for byte as it was.

Files (type, mode, owner, size, mtime in ns, sha256, link target) under the paths the roles write, the
entries of the folders they create things in, and the demo unit's state as systemd reports it.
"""

from __future__ import annotations

import json
import shlex

# Walked recursively: the unit's drop-ins, config, releases, cache, budget, leases, quarantine.
TREES = (
    "/etc/systemd/system",
    "/etc/demo-app",
    "/opt/demo-app",
    "/var/cache/demo-app",
    "/var/lib/incident-remediation",
)
# Only their mode, owner and the names in them: a new folder or archive shows; Ansible's own temporary files,
# made and removed by every run (the folder's mtime changes), do not.
FOLDERS = ("/var/lib", "/var/tmp", "/tmp", "/etc", "/opt", "/var/cache")
UNIT_PROPERTIES = ("ActiveState,SubState,MainPID,NRestarts,ExecMainStartTimestamp,MemoryMax,Environment,"
                   "DropInPaths,FragmentPath,NeedDaemonReload")  # fmt: skip

SCRIPT = r"""
import hashlib, json, os, stat, subprocess, sys
trees, folders, unit, properties = json.loads(sys.argv[1])
seen = {}
def entry(path):
    st = os.lstat(path)
    item = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "mtime_ns": st.st_mtime_ns}
    if stat.S_ISLNK(st.st_mode):
        item["link"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        item["size"] = st.st_size
        with open(path, "rb") as handle:
            item["sha256"] = hashlib.sha256(handle.read()).hexdigest()
    return item
for root in trees:
    if not os.path.lexists(root):
        seen[root] = None
        continue
    seen[root] = entry(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            seen[os.path.join(folder, name)] = entry(os.path.join(folder, name))
for folder in folders:
    st = os.lstat(folder)
    seen[folder] = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "names": sorted(os.listdir(folder))}
out = subprocess.run(["systemctl", "show", unit, "-p", properties], capture_output=True, text=True).stdout
seen["unit " + unit] = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
print(json.dumps(seen, sort_keys=True))
"""


def fingerprint(host, unit: str = "demo-app.service") -> dict:
    """What the mitigations could have changed on ``host`` (a hosts.PodmanHost), as one comparable dict."""
    argument = json.dumps([TREES, FOLDERS, unit, UNIT_PROPERTIES])
    done = host.sh(f"python3 -c {shlex.quote(SCRIPT)} {shlex.quote(argument)}")
    return json.loads(done.stdout)


def differences(before: dict, after: dict) -> list[str]:
    """One line per path that appeared, disappeared or changed."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            lines.append(f"{path}: {before.get(path)} -> {after.get(path)}")
    return lines
