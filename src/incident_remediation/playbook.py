"""What ansible-runner starts for a job: ``python -m incident_remediation.playbook ARGS`` puts back the receiver's
environment withheld from ansible-runner's records (runner.withhold) and becomes ``ansible-playbook ARGS``.

The withheld variables come from the private file named by $REMEDIATE_WITHHELD_ENV (mode 0600, outside the
job's folder), deleted as soon as it is read: ansible-runner writes the environment it is given to the job's
``artifacts/<ident>/command``, so a webhook URL or routing key given to the receiver as an environment variable
would be in every job's folder otherwise."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

WITHHELD_ENV = "REMEDIATE_WITHHELD_ENV"


def main(args: list[str]) -> None:
    env = dict(os.environ)
    source = env.pop(WITHHELD_ENV, "")
    withheld: dict[str, str] = {}
    if source:
        try:
            withheld = json.loads(Path(source).read_text(encoding="utf-8"))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(source)
    binary = Path(sys.executable).parent / "ansible-playbook"  # the one of this environment, as PATH says first
    program = str(binary) if binary.exists() else "ansible-playbook"
    os.execvpe(program, [program, *args], {**withheld, **env})


if __name__ == "__main__":
    main(sys.argv[1:])
