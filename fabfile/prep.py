"""prep: the day before. Copy /home from old to new once, so the day only moves the difference."""

from __future__ import annotations

from .ops import sshd, transfer
from .steps import phase_task, run_sequence, step

NS = "prep"


@step("P1", role="new", namespace=NS, name="allow-root-login", title="allow root login on new")
def allow_root_login(s):
    """P1 (new): let old's root key in where sshd reads PermitRootLogin for old; sshd -T proves it; fresh login."""
    sshd.open_root_login(s, s.host)


@step("P2", role="old", namespace=NS, name="rsync-dryrun", title="rsync dry run of /home", hosts=("old", "new"), confirms=True)
def rsync_dryrun(s):
    """P2 (old): rsync -n of /home to new; summary by message class; deletions and warnings to accept (--yes)."""
    summary = transfer.review(s, s.host, "P2")
    if summary is not None:
        s.accept_all(summary.needs_acceptance(), "not accepted: add an --exclude to rsync.excludes (or fix the cause on old); nothing copied")
        transfer.record_accepted(s, summary)


@step("P3", role="old", namespace=NS, name="rsync", title="rsync /home for real", hosts=("old", "new"))
def rsync(s):
    """P3 (old): the P2 command for real, held to the deletions accepted in P2."""
    transfer.real_run(s, s.host)
    transfer.show_dest(s.on("new"), s.settings.rsync.dest)


@step("P4", role="new", namespace=NS, name="restore-root-login", title="restore new's sshd_config")
def restore_root_login(s):
    """P4 (new): undo exactly what P1 changed (sshd -T shows the value of before); restart sshd."""
    sshd.close_root_login(s, s.host)


@phase_task("P1-P4", namespace=NS, name="sync-home")
def sync_home(c):
    """P1-P4 (new, old): open root login, dry run, rsync, and always close root login again."""
    try:
        run_sequence(c, [allow_root_login, rsync_dryrun, rsync], "prep")
    finally:
        restore_root_login(c)  # directly, never skipped: closing what is open is always right (unchanged if closed)
