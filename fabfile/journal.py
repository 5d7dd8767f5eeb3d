"""The journal: the record of the night, one JSON object per line.

It lives on the operator's machine, because the hosts it describes change
names, addresses and even stop answering during the swap. It records what
happened and where the backups are, never file contents: a journal is
something people paste into tickets.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

EVENTS = {"start", "change", "unchanged", "done", "failed", "skipped", "check", "manual", "note", "intent", "prepare"}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Journal:
    _lock = threading.Lock()  # old's and new's steps may write at the same time (steps.run_parallel)

    def __init__(self, path: str | os.PathLike, run_id: str | None = None):
        self.path = Path(path)
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.user = os.environ.get("SUDO_USER") or getpass.getuser()

    def write(self, event: str, *, host: str | None = None, task: str | None = None, step: str | None = None, **fields: Any) -> dict:
        if event not in EVENTS:
            raise ValueError(f"unknown journal event {event!r}")
        record = {
            "time": now_iso(),
            "run": self.run_id,
            "user": self.user,
            "host": host,
            "task": task,
            "step": step,
            "event": event,
        }
        record.update({k: _filtered(v) for k, v in fields.items() if v is not None})
        with self._lock:
            record["time"] = now_iso()  # taken under the lock: the file stays in time order
            line = json.dumps(record, ensure_ascii=False, sort_keys=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return record

    def records(self) -> Iterator[dict]:
        return read_records(self.path)

    def swapped(self, alias: str) -> bool | None:
        """True once C10 moved this host (it answers at its `after` address and name), False before;
        None (UNKNOWN) while a move was launched and not confirmed by the host's key.

        Per host, because C10 can succeed on one host and fail on the other.
        """
        result: bool | None = False
        for record in self.records():
            if record.get("host") == alias and "swapped" in record:
                result = None if record["swapped"] == "unknown" else bool(record["swapped"])
        return result

    def host_key(self, alias: str) -> str | None:
        """The host key ("type base64") this alias was bound to at first contact: the machine IS its key."""
        for record in self.records():
            if record.get("host") == alias and record.get("host_key"):
                return record["host_key"]
        return None

    def key_owner(self, key: str) -> str | None:
        """The alias bound to this host key, if any."""
        for record in self.records():
            if record.get("host_key") == key:
                return record.get("host")
        return None


def _filtered(value):
    """A journal value through the one secret filter (fabfile/output.redact): the journal is pasted into tickets."""
    from .output import redact

    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_filtered(v) for v in value]
    if isinstance(value, dict):
        return {k: _filtered(v) for k, v in value.items()}
    return value


def read_records(path: str | os.PathLike) -> Iterator[dict]:
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                # A torn last line (power cut mid-write) must not hide the rest.
                continue


def last_state(records) -> dict[str, dict]:
    state: dict[str, dict] = {}
    for record in records:
        if record.get("step") and record.get("event") in ("done", "failed", "skipped"):
            state[record["step"]] = record
    return state

