"""The /home copy from old to new (P2 dry run, P3 and C4 real), run on old.

The dry run's list can be hundreds of thousands of lines: it stays on old
in the seed's log file and is streamed back line by line into a summary and
a local copy, never held in memory. The real run only starts after a dry run
of the same command was accepted, and `--max-delete` holds it to the
deletions the operator saw.
"""

from __future__ import annotations

import hashlib
import os
import shlex

from ..edit.rsynclog import summarize
from ..remote import Host, RemoteError

MARK = "rsync_accepted"


def rsync_argv(settings, dry: bool, max_delete: int | None = None) -> list[str]:
    cfg = settings["rsync"]
    new = settings.by_role("new")
    target = new.before.fqdn or new.address
    argv = ["rsync"] + (["-n"] if dry else []) + list(cfg["options"][:1]) + [o for o in cfg["options"][1:]]
    argv += ["-e", cfg["ssh"]]
    argv += [f"--exclude={pattern}" for pattern in cfg["excludes"]]
    if max_delete is not None:
        argv.append(f"--max-delete={max_delete}")
    argv += ["--stats", cfg["source"], f"{target}:{cfg['dest']}"]
    return argv


def command_id(settings) -> str:
    """Identity of the transfer (the dry run's command minus -n) to pair a dry run with a real run."""
    return hashlib.sha256(" ".join(rsync_argv(settings, dry=False)).encode()).hexdigest()[:16]


def dry_run(step, old: Host, local_copy: str) -> object:
    cfg = step.settings["rsync"]
    argv = rsync_argv(step.settings, dry=True)
    command = f"cd {shlex.quote(cfg['workdir'])} && {shlex.join(argv)} > {shlex.quote(cfg['log'])} 2>&1"
    old.say(f"rsync dry run: {shlex.join(argv)}  (list kept in {cfg['log']})")
    result = old.probe(command)
    summary = stream_summary(old, cfg["log"], local_copy, cfg["deletion_preview"])
    if not result.ok:
        raise RemoteError(f"{old.alias}: rsync dry run failed (exit {result.exited}): {'; '.join(summary.errors[:2]) or 'see ' + cfg['log']}")
    return summary


def stream_summary(old: Host, remote_log: str, local_copy: str, keep: int):
    os.makedirs(os.path.dirname(local_copy) or ".", exist_ok=True)
    with old.sftp.open(remote_log, "r") as remote, open(local_copy, "w", encoding="utf-8", errors="surrogateescape") as local:
        remote.prefetch()

        def lines():
            for raw in remote:
                line = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
                local.write(line if line.endswith("\n") else line + "\n")
                yield line.rstrip("\n")

        return summarize(lines(), keep_deletions=keep)


def accept(step, summary) -> bool:
    for line in summary.describe():
        step.say(line)
    if summary.deletions and not step.confirm(f"accept these {summary.deletions} deletions on new?"):
        step.say("not accepted: add an --exclude to rsync.excludes in hosts.toml, then run the dry run again")
        return False
    step.note("rsync dry run accepted", **{MARK: {"command": command_id(step.settings), "deletions": summary.deletions}})
    return True


def accepted_deletions(step) -> int | None:
    wanted = command_id(step.settings)
    accepted = None
    for record in step.session.journal.records():
        mark = record.get(MARK)
        if mark is not None:
            accepted = mark["deletions"] if mark.get("command") == wanted else None
    return accepted


def real_run(step, old: Host) -> None:
    cfg = step.settings["rsync"]
    allowed = accepted_deletions(step)
    if allowed is None:
        raise RemoteError("no accepted dry run of this rsync command: run prep.rsync-dryrun (P2) first")
    argv = rsync_argv(step.settings, dry=False, max_delete=allowed)
    if old.dry:
        old.say(f"dry run: would run: {shlex.join(argv)}")
        return
    command = f"cd {shlex.quote(cfg['workdir'])} && {shlex.join(argv)} 2>&1 | tee {shlex.quote(cfg['log'] + '.real')}; exit ${{PIPESTATUS[0]}}"
    old.say(f"rsync: {shlex.join(argv)}")
    result = old.c.run(f"bash -c {shlex.quote(command)}", hide=False, warn=True, in_stream=False, dry=False, out_stream=Progress(old))
    if result.exited == 25:
        raise RemoteError(f"{old.alias}: rsync stopped: more deletions than the {allowed} accepted in the dry run; run the dry run again")
    if not result.ok:
        raise RemoteError(f"{old.alias}: rsync failed (exit {result.exited}); see {cfg['log']}.real on old")
    old.record("change", detail=f"rsync /home to new ({shlex.join(argv)})")


class Progress:
    """An out_stream that shows a line every 1000 files instead of every file."""

    def __init__(self, host: Host, every: int = 1000):
        self.host, self.every, self.count, self.partial = host, every, 0, ""

    def write(self, data: str) -> None:
        self.partial += data
        *lines, self.partial = self.partial.split("\n")
        for line in lines:
            self.count += 1
            if self.count % self.every == 0:
                self.host.say(f"rsync: {self.count} lines…")
            if line.startswith(("sent ", "total size", "rsync error", "rsync:", "deleting ")):
                self.host.say(f"rsync: {line}")

    def flush(self) -> None:
        pass
