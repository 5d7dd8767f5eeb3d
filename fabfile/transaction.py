"""All or nothing across a crash, for a step that changes several files (C3's account files, C8's identity files, A2's zones).

Each file is already replaced atomically (Files.edit); what a crash can
leave is a half-changed *set* (group merged, gshadow not). So:

1. `begin` journals the intent (the step, the host, the files) before the
   first rename;
2. for each file, after its backup and before its rename, Files.edit
   journals a "prepare" record (path, backup, sha256 before and after) —
   so whatever instant a kill hits, the journal knows where each file's
   original is;
3. `commit` journals the end.

A run that finds an intent of its step and host without a commit (or a
roll-back) recognises its own partial change and, asked (roll back is the
default; --yes takes the default), rolls it back from the backups — each
file whose sha256 is the planned one goes back to its backup (checked
against the sha256 before); a file neither planned nor original is not
touched and is named — or finishes it (roll back, then the step runs again
from a consistent start). Either way the files end as a whole set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .errors import RemoteError
from .hostfiles import sha256


@dataclass
class Pending:
    tx: str
    time: str
    run: str
    paths: list[str]
    prepared: dict[str, dict] = field(default_factory=dict)  # path -> the last prepare record


def interrupted(records, alias: str, step_id: str) -> Pending | None:
    """The latest transaction of this step on this host that began and never ended, if any."""
    pending: dict[str, Pending] = {}
    for record in records:
        tx = record.get("tx")
        if not tx or record.get("host") != alias:
            continue
        event = record.get("event")
        if event == "intent" and record.get("state") == "begun" and record.get("step") == step_id:
            pending[tx] = Pending(tx, record.get("time", ""), record.get("run", ""), list(record.get("paths", [])))
        elif event == "intent":
            pending.pop(tx, None)
        elif event == "prepare" and tx in pending:
            pending[tx].prepared[record["path"]] = record
    return list(pending.values())[-1] if pending else None


class Transaction:
    def __init__(self, step, host, paths):
        self.step, self.host, self.paths = step, host, list(paths)
        self.tx = uuid.uuid4().hex[:12]

    def _intent(self, state: str, **fields) -> None:
        self.step.session.journal.write("intent", host=self.host.alias, task=self.step.info.task_name, step=self.step.info.ids[0],
                                        tx=self.tx, state=state, **fields)

    def __enter__(self):
        if not self.host.dry:
            self._intent("begun", paths=self.paths)
            self.host.tx = self.tx
        return self

    def __exit__(self, kind, exc, tb):
        self.host.tx = None
        if not self.host.dry and kind is None:
            self._intent("committed")
        return False

    def rolled_back(self) -> None:
        self.host.tx = None
        if not self.host.dry:
            self._intent("rolled-back")

    def undo(self) -> None:
        """This run failed part-way: every file it prepared goes back (from the journal's prepare records), then closed."""
        pending = interrupted(self.step.session.journal.records(), self.host.alias, self.step.info.ids[0])
        self.host.tx = None
        if pending is None or pending.tx != self.tx:
            self.rolled_back()
            return
        for line in roll_back(self.step, self.host, pending):
            self.host.say(line)


def _put_back(host, path: str, record: dict) -> str:
    """One file of an interrupted set back to its original; returns what was done (one phrase)."""
    current = sha256(host.read_bytes(path)) if host.exists(path) else None
    if current == record.get("sha256_before"):
        return f"{path}: already as before"
    if current != record.get("sha256_after"):
        raise RemoteError(f"{host.alias}: {path} is neither the original nor what the interrupted run wrote (someone changed it since); "
                          f"compare it with {record.get('backup')} and fix it by hand, then run the step again")
    backup = record.get("backup")
    if not backup or not host.exists(backup) or sha256(host.read_bytes(backup)) != record.get("sha256_before"):
        raise RemoteError(f"{host.alias}: the backup {backup} of {path} is missing or not the original; restore {path} by hand")
    host.files.restore(path, backup)
    return f"{path}: put back from {backup}"


def roll_back(step, host, pending: Pending) -> list[str]:
    """Every prepared file of the interrupted set back to its original, in reverse order; journals the end."""
    done = [_put_back(host, path, record) for path, record in reversed(list(pending.prepared.items()))]
    step.session.journal.write("intent", host=host.alias, task=step.info.task_name, step=step.info.ids[0], tx=pending.tx,
                               state="rolled-back", detail="; ".join(done) or "nothing had been written")
    return done


def recover(step, host) -> bool:
    """Before a multi-file step: finish or roll back its own interrupted change. True: stop the step now.

    The operator is asked; roll back is the default (and what --yes or no
    terminal gives); "finish" rolls back too, then the step runs again.
    """
    pending = interrupted(step.session.journal.records(), host.alias, step.info.ids[0])
    if pending is None:
        return False
    written = [p for p in pending.prepared]
    step.say(f"{step.info.ids[0]}: the run {pending.run} of {pending.time[:19]} was interrupted after preparing "
             f"{len(written)} of {len(pending.paths)} files on {host.alias}: {', '.join(written) or 'none'}")
    for path, record in pending.prepared.items():
        step.say(f"  {path}: backup {record.get('backup')}")
    if step.dry:
        step.say("dry run: would roll these back from their backups (the default), then run the step")
        return False
    finish = not step.session.assume_yes and step.confirm("finish it (roll back, then run the step again)? no = roll back only")
    for line in roll_back(step, host, pending):
        host.say(line)
    if not finish:
        step.say(f"{step.info.ids[0]}: rolled back; every file is as before the interrupted run. Run the step again when ready.")
    return not finish
