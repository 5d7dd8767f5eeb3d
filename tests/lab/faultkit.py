"""The fault suite's tools: `fab` as the operator runs it (a real process), killed or cut off on purpose.

`FabNight(tmp_path)` is one operator's night with its own hosts file copy
(journal and known_hosts in tmp_path, so a fault leaves nothing stale for
other tests). `fab(...)` runs the real CLI to its end (or its SIGKILL by a
fault point, $SERVERSWAP_FAULT) and returns the result with its duration;
`start(...)` runs it in the background so a test can cut a link at the
right moment, found by watching the journal (`wait_for`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANG = 90.0   # no fault may leave fab silent longer than this


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [line for line in (self.err.strip() or self.out.strip()).splitlines() if line.strip()]
        return lines[-1] if lines else ""   # fab's one line (its Exit message) goes to stderr


class FabNight:
    def __init__(self, tmp_path: Path, replace: dict | None = None):
        import lab.api as api

        self.dir = tmp_path
        self.journal = tmp_path / "journal.jsonl"
        self.known_hosts = tmp_path / "known_hosts"
        state = api.hosts_file().parent / "state"
        shutil.copy(state / "known_hosts", self.known_hosts)
        text = api.hosts_file().read_text()
        for old, new in (replace or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        text = text.replace('"state/operator_key"', f'"{state / "operator_key"}"')
        text = text.replace('known_hosts = "state/known_hosts"', f'known_hosts = "{self.known_hosts}"')
        text = text.replace('journal = "state/journal.jsonl"', f'journal = "{self.journal}"')
        text = text.replace('report_dir = "state"', f'report_dir = "{tmp_path}"')
        # a fault is noticed sooner than on the night: a stalled copy after 15 s, a lost host after 20 s
        text = text.replace("connect_timeout = 10", "connect_timeout = 10\nstall_timeout = 15\nkeepalive = 3")
        text = text.replace("reconnect_timeout = 60", "reconnect_timeout = 20")
        self.hosts = tmp_path / "hosts.toml"
        self.hosts.write_text(text)

    def env(self, fault: str | None = None, **extra) -> dict:
        env = dict(os.environ, SERVERSWAP_HOSTS=str(self.hosts), SERVERSWAP_YES="1", **extra)
        env.pop("SERVERSWAP_FAULT", None)
        if fault:
            env["SERVERSWAP_FAULT"] = fault
        return env

    def fab(self, *args, fault: str | None = None, timeout: float = 300, **extra) -> Result:
        began = time.monotonic()
        p = subprocess.run(["fab", *args], cwd=REPO, env=self.env(fault, **extra), capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - began)

    def start(self, *args, fault: str | None = None, **extra) -> subprocess.Popen:
        return subprocess.Popen(["fab", *args], cwd=REPO, env=self.env(fault, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)

    def finish(self, process: subprocess.Popen, began: float, timeout: float = 200) -> Result:
        out, err = process.communicate(timeout=timeout)
        return Result(process.returncode, out, err, time.monotonic() - began)

    def records(self) -> list[dict]:
        if not self.journal.exists():
            return []
        out = []
        for line in self.journal.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_for(self, predicate, timeout: float = 120) -> dict:
        """The first journal record `predicate` accepts, polling every 20 ms."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records():
                if predicate(record):
                    return record
            time.sleep(0.02)
        raise AssertionError("the journal never showed the awaited record")
