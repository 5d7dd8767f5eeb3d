"""The /home copy from old to new (P2 dry run, P3 and C4 real), run on old.

The dry run's list can be hundreds of thousands of lines: it stays on old
in the seed's log file and is streamed back line by line into a summary and
a local copy, never held in memory. The real run only starts after a dry run
of the same command was accepted, and `--max-delete` holds it to the
deletions the operator saw.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex

from ..commands import Script
from ..edit import rsynclog
from ..edit.rsynclog import summarize
from ..errors import RemoteError

MARK = "rsync_accepted"


def ssh_command(settings) -> str:
    """rsync's -e: the configured ssh, with keepalives so a cut link ends the transfer instead of hanging it."""
    cfg, operator = settings.rsync, settings.operator
    if not operator.keepalive:
        return cfg.ssh
    count = max(1, -(-operator.stall_timeout // operator.keepalive))
    return f"{cfg.ssh} -o ServerAliveInterval={operator.keepalive} -o ServerAliveCountMax={count}"


def extra_options(settings, new_rsync: tuple[int, ...] | None) -> list[str]:
    """What the tool adds to rsync.options: --sparse (holes kept on new, if new's rsync allows it with the
    other options) and --itemize-changes (every line says its kind, so the summary checks counts against --stats)."""
    base = ["rsync", *settings.rsync.options, *settings.rsync.real_run_options]
    return rsynclog.sparse_option(base, new_rsync) + rsynclog.itemize_option(base)


def rsync_argv(settings, dry: bool, max_delete: int | None = None, extra=()) -> list[str]:
    cfg = settings.rsync
    new = settings.by_role("new")
    target = new.before.fqdn or new.address
    argv = ["rsync"] + (["-n"] if dry else []) + list(cfg.options) + list(extra)
    argv += ["-e", ssh_command(settings), f"--timeout={settings.operator.stall_timeout}"]
    argv += [f"--exclude={pattern}" for pattern in cfg.excludes]
    if max_delete is not None:
        argv.append(f"--max-delete={max_delete}")
    argv += ["--stats", cfg.source, f"{target}:{cfg.dest}"]
    return argv


def command_id(settings, extra=()) -> str:
    """Identity of the transfer (the dry run's command minus -n) to pair a dry run with a real run."""
    return hashlib.sha256(" ".join(rsync_argv(settings, dry=False, extra=extra)).encode()).hexdigest()[:16]


def new_rsync_version(step) -> tuple[int, ...] | None:
    """The receiving rsync's version (new's), a fact read once."""
    new = step.on("new")

    def read():
        result = new.probe(["rsync", "--version"])
        try:
            return rsynclog.rsync_version(result.stdout)
        except Exception:  # noqa: BLE001 - an EditError: no rsync there
            raise RemoteError(f"{new.alias}: rsync is not installed (or does not answer --version); install rsync on new") from None
    return new.facts.get("rsync-version", read)


def options_for(step) -> list[str]:
    return extra_options(step.settings, new_rsync_version(step))


# rsync's exit codes that report files, not a broken copy (23 some files not transferred, 24 files
# vanished on the sender between the listing and the send), with the summary's classes that name them.
WARNINGS = {23: ("send_failed", "no_referent", "other_error"), 24: ("vanished",)}
VANISHED = 24
IN_DIR_TO_LOG = 'cd "$1" && log=$2 && shift 2 && exec "$@" >"$log" 2>&1'


def dry_run(step, old, local_copy: str) -> object:
    cfg = step.settings.rsync
    argv = rsync_argv(step.settings, dry=True, extra=options_for(step))
    old.say(f"rsync dry run: {shlex.join(argv)}  (list kept in {cfg.log})")
    result = old.probe(Script(IN_DIR_TO_LOG, cfg.workdir, cfg.log, *argv))
    summary = stream_summary(old, cfg.log, local_copy, cfg.deletion_preview, argv)
    if any(summary.classes[name] for name in WARNINGS.get(result.exited, ())):
        return summary  # files vanished or unreadable on old: named in the questions the operator must accept
    if not result.ok:
        raise RemoteError(f"{old.alias}: rsync dry run failed (exit {result.exited}): {'; '.join(summary.errors[:2]) or 'see ' + cfg.log}")
    return summary


def stream_summary(old, remote_log: str, local_copy: str, keep: int, argv=()):
    """Summary of the remote log and a local copy of it, streamed: memory does not grow with the log."""
    os.makedirs(os.path.dirname(local_copy) or ".", exist_ok=True)
    with open(local_copy, "w", encoding="utf-8", errors="surrogateescape") as local:

        def lines():
            for raw in old.read_lines(remote_log):
                line = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
                local.write(line if line.endswith("\n") else line + "\n")
                yield line.rstrip("\n")

        return summarize(lines(), keep_deletions=keep, argv=argv)


def record_accepted(step, summary) -> None:
    """The operator accepted this dry run: the real run is held to its deletions (--max-delete). Not in a dry run."""
    if step.dry:
        return
    step.note("rsync dry run accepted", **{MARK: {"command": command_id(step.settings, options_for(step)), "deletions": summary.deletions}})


def homes_at_risk(old_passwd: str, new_passwd: str, dest: str, excludes) -> list[str]:
    """Homes under `dest` of accounts only new has, that --delete would remove (no exclude matches them)."""
    from ..edit.accounts import parse_passwd

    old_names = {e.name for e in parse_passwd(old_passwd)}
    root = dest.rstrip("/") + "/"
    risky = []
    for entry in parse_passwd(new_passwd):
        home = entry.home.rstrip("/")
        if entry.name in old_names or not home.startswith(root):
            continue
        top = home[len(root):].split("/", 1)[0]
        if top and not any(fnmatch.fnmatchcase(top, p.strip("/")) for p in excludes):
            risky.append(f"{entry.name} ({root}{top})")
    return risky


def protect_new_homes(step, old) -> None:
    """Refuse (even with --yes) an rsync --delete that would delete the home of an account only new has."""
    cfg = step.settings.rsync
    if "--delete" not in cfg.options:
        return
    new = step.on("new")
    risky = homes_at_risk(old.read_text("/etc/passwd"), new.read_text("/etc/passwd"), cfg.dest, cfg.excludes)
    if risky:
        raise RemoteError(f"{new.alias}: rsync --delete would delete the home of {', '.join(risky)}, accounts only new has; "
                          f"add an --exclude for each to rsync.excludes in hosts.toml (nothing was copied)")


def _root_login_open(step) -> bool:
    from ..exposures import ROOT_LOGIN, still_open

    return any(r["exposure"] == ROOT_LOGIN for r in still_open(list(step.session.journal.records())))


def stale_transfers(old, log: str) -> list[str]:
    """rsyncs still running on old from an earlier run (one killed mid-copy): "PID ARGS" lines."""
    pattern = "^rsync .*[-]-log-file=" + re.escape(log + ".real") + "( |$)"
    result = old.probe(["pgrep", "-a", "-f", "--", pattern])
    return [line for line in result.stdout.splitlines() if line.strip()]


def stop_stale(step, old) -> None:
    """Found and reported; stopped only when the operator agrees (a second copy beside it would race it)."""
    found = stale_transfers(old, step.settings.rsync.log)
    if not found:
        return
    for line in found:
        old.say(f"an rsync from an earlier run is still running: {line[:160]}")
    pids = [line.split()[0] for line in found]
    if not step.dry and not step.confirm(f"stop it (kill -TERM {' '.join(pids)}) before this copy?"):
        raise RemoteError(f"{old.alias}: an earlier rsync (pid {', '.join(pids)}) still runs; let it end or stop it (kill {' '.join(pids)}), then run the step again")
    from .sessions import KILL

    old.change(KILL("TERM", pids), what=f"kill -TERM {' '.join(pids)} (the earlier rsync)")


def review(step, old, step_id: str):
    """The dry run and its summary by message class (P2, C4); the summary (None in a dry run before C1/P1).

    The questions the operator must answer are `summary.needs_acceptance()`: the
    task asks them (steps confirm, ops only plan), then `record_accepted`.
    """
    if step.dry and not _root_login_open(step):
        old.say(f"dry run: {step_id}'s rsync -n needs root login on new, which P1/C1 opens only for real: "
                f"would run {shlex.join(rsync_argv(step.settings, dry=True, extra=options_for(step)))}")
        return None
    stop_stale(step, old)
    protect_new_homes(step, old)
    local = os.path.join(step.settings.operator.report_dir, f"rsync-dryrun-{step_id.lower()}.log")
    summary = dry_run(step, old, local)
    step.say(f"dry-run list: {step.settings.rsync.log} on old, {local} here")
    for line in summary.describe():
        step.say(line)
    return summary


def accepted_deletions(step) -> int | None:
    wanted = command_id(step.settings, options_for(step))
    accepted = None
    for record in step.session.journal.records():
        mark = record.get(MARK)
        if mark is not None:
            accepted = mark["deletions"] if mark.get("command") == wanted else None
    return accepted


def real_argv(settings, max_delete: int | None, extra=()) -> list[str]:
    """The real run: the dry run's command without -n, its per-file list kept on old.

    `--log-file=LOG.real` keeps the list (one line per file) on old, beside the
    dry run's; rsync.real_run_options (default `--info=name0,progress2`, rsync
    >= 3.1) hide the names on stdout and show one progress line instead, so
    only progress, deletions and --stats come back over SSH.
    """
    cfg = settings.rsync
    argv = rsync_argv(settings, dry=False, max_delete=max_delete, extra=extra)
    added = [f"--log-file={cfg.log}.real"] + list(cfg.real_run_options)
    return argv[:-3] + added + argv[-3:]  # before --stats SOURCE DEST


IN_DIR_EMPTY_LOG = 'cd "$1" && : >"$2" && shift 2 && exec "$@" 2>&1'


def real_run(step, old) -> None:
    cfg = step.settings.rsync
    allowed = accepted_deletions(step)
    if allowed is None and old.dry:
        old.say("dry run: would run the real rsync once a dry run of it is accepted (P2/C4)")
        return
    if allowed is None:
        raise RemoteError("no accepted dry run of this rsync command: run prep.rsync-dryrun (P2) first")
    argv = real_argv(step.settings, allowed, options_for(step))
    if old.dry:
        old.say(f"dry run: would run: {shlex.join(argv)}")
        return
    stop_stale(step, old)
    old.say(f"rsync: {shlex.join(argv)}  (list kept in {cfg.log}.real)")
    progress = Progress(old)
    result = old.runner.run(Script(IN_DIR_EMPTY_LOG, cfg.workdir, cfg.log + ".real", *argv), out_stream=progress)
    progress.close()
    if result.exited == 25:
        raise RemoteError(f"{old.alias}: rsync stopped: more deletions than the {allowed} accepted in the dry run; run the dry run again")
    if result.exited in (30, 35, 12) or "timeout" in (result.stdout or "")[-2000:].lower():
        raise RemoteError(f"{old.alias}: rsync stalled (no data for {step.settings.operator.stall_timeout} s; exit {result.exited}): "
                          f"check new and the link between old and new, then run {step.info.ids[0]} again (it resumes: only the difference moves)")
    if result.exited == VANISHED:   # gone on old while it was copied: nothing of them left to copy
        old.say(f"rsync: some files vanished on old while they were copied (code 24; names in {cfg.log}.real on old): "
                "they are gone from old, so new does not have them either")
    elif not result.ok:
        raise RemoteError(f"{old.alias}: rsync failed (exit {result.exited}); see {cfg.log}.real on old")
    vanished = " (code 24: files vanished on old meanwhile)" if result.exited == VANISHED else ""
    old.record("change", detail=f"rsync /home to new ({shlex.join(argv)}){vanished}")


def show_dest(new, dest: str) -> None:
    """P3's check: what new's /home holds now (names only)."""
    listing = new.files.listdir(dest)
    new.say(f"{dest} on new holds {len(listing)} entries: {' '.join(listing[:20])}")


class Progress:
    """An out_stream for the real run: deletions, errors and stats as they come; progress every few seconds.

    Lines end in "\n"; rsync's --info=progress2 line is rewritten in place with
    "\r". Without progress2 (an older rsync: -v names every file) a line every
    1000 files. Nothing is kept but the current partial line.
    """

    SHOWN = ("sent ", "total size", "rsync error", "rsync:", "deleting ", "Number of ", "Total transferred", "Total file size")

    def __init__(self, host, every: int = 1000, seconds: float = 2.0):
        self.host, self.every, self.seconds, self.count, self.partial = host, every, seconds, 0, ""
        self.last_progress, self.last_shown, self.shown_at = "", "", None

    def write(self, data: str) -> None:
        import time

        self.partial += data
        *pieces, self.partial = self.partial.replace("\r\n", "\n").split("\n")
        if "\r" in self.partial:  # progress2 rewrites its line: keep only the latest state
            *updates, self.partial = self.partial.split("\r")
            self.progress(next((u for u in reversed(updates) if u.strip()), ""), time)
        for piece in pieces:
            *updates, line = piece.split("\r")
            if updates:
                self.progress(next((u for u in reversed(updates) if u.strip()), ""), time)
            self.count += 1
            if self.count % self.every == 0:
                self.host.say(f"rsync: {self.count} lines…")
            if line.startswith(self.SHOWN):
                self.host.say(f"rsync: {line}")
            elif line.strip() and "xfr#" in line:
                self.progress(line, time)

    def progress(self, line: str, time) -> None:
        line = line.strip()
        if not line:
            return
        self.last_progress = line
        now = time.monotonic()
        if self.shown_at is None or now - self.shown_at >= self.seconds:
            self.shown_at, self.last_shown = now, line
            self.host.say(f"rsync: {line}")

    def close(self) -> None:
        """Show the last progress state (the final one) if it was not the last line shown."""
        if self.last_progress and self.last_progress != self.last_shown:
            self.host.say(f"rsync: {self.last_progress}")
        self.last_progress = ""

    def flush(self) -> None:
        pass
