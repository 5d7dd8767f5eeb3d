"""prep: the day before. Copy /home from old to new once, so the day only moves the difference."""

from __future__ import annotations



from .ops import sshd, transfer
from .steps import run_sequence, step

NS = "prep"


@step("P1", role="new", namespace=NS, name="allow-root-login")
def allow_root_login(s):
    """P1 (new): let old's root key in (PermitRootLogin, sshd -t, restart, fresh login)."""
    sshd.open_root_login(s, s.host)


@step("P2", role="old", namespace=NS, name="rsync-dryrun")
def rsync_dryrun(s, yes=False):
    """P2 (old): rsync -n of /home to new; summary, deletions to accept (--yes)."""
    s.session.assume_yes |= yes
    transfer.review(s, s.host, "P2")


@step("P3", role="old", namespace=NS, name="rsync")
def rsync(s):
    """P3 (old): the P2 command for real, held to the deletions accepted in P2."""
    transfer.real_run(s, s.host)
    new = s.on("new")
    listing = new.probe("ls -A /home").stdout.split()
    new.say(f"/home on new holds {len(listing)} entries: {' '.join(listing[:20])}")


@step("P4", role="new", namespace=NS, name="restore-root-login")
def restore_root_login(s):
    """P4 (new): sshd_config back as it was before P1; restart sshd."""
    sshd.close_root_login(s, s.host)


@step("P1-P4", role=None, namespace=NS, name="sync-home", default=True)
def sync_home(s, yes=False):
    """P1-P4 (new, old): open root login, dry run, rsync, and always close root login again."""
    s.session.assume_yes |= yes
    try:
        run_sequence(s.c, [allow_root_login, rsync_dryrun, rsync], "prep")
    finally:
        restore_root_login(s.c)
