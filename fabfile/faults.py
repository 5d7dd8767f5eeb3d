"""Fault points for the fault suite (tests/lab/test_faults_*.py): where a crash is worst, on purpose.

`point("prepare", path)` is a no-op unless $SERVERSWAP_FAULT names it
("prepare:/etc/gshadow", "step-done:C1", "renamed:/etc/hosts"): then the
process kills itself with SIGKILL right there, as a power cut or `kill -9`
would, so the suite can prove that the next run finishes or rolls back
what was half done. Like a database's failpoints: one environment lookup
when unset, nothing else.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "SERVERSWAP_FAULT"


def point(name: str, detail: str) -> None:
    wanted = os.environ.get(VARIABLE)
    if wanted and wanted == f"{name}:{detail}":
        os.kill(os.getpid(), signal.SIGKILL)
