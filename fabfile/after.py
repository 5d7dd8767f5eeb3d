"""after: about a week later, on new. Remove the reference copies, restore the TTL, remove the build accounts."""

from __future__ import annotations

from .ops import cleanup, zones
from .steps import phase_task, run_sequence, step
from .transaction import recover

NS = "after"


@step("A1", role="new", namespace=NS, name="remove-reference-copies", title="remove the files copied for reference", confirms=True)
def remove_reference_copies(s):
    """A1 (new): rm -r the copies from old kept for reference (cleanup.paths), after a confirmation."""
    present = cleanup.existing(s.host, s.settings.cleanup.paths)
    if not present:
        s.host.say(f"none of cleanup.paths ({len(s.settings.cleanup.paths)}) is there: unchanged")
        return
    size = cleanup.sizes(s.host, present)
    s.say("A1: will remove:\n" + "\n".join(f"  {size.get(p, '?'):>6}  {p}" for p in present))
    s.require(f"remove these {len(present)} paths for good?", "not confirmed; nothing removed")
    cleanup.remove(s.host, present)


@step("A2", role="new", namespace=NS, name="restore-ttl", title="restore the TTL on new")
def restore_ttl(s):
    """A2 (new): back up namedb as namedb-YYYYMMDD, TTLs -> ttl.normal, serials bumped, restart BIND; DNS answers it."""
    if recover(s, s.host):
        return
    zones.backup_data(s, s.host)
    zones.apply_ttl(s, s.host, s.settings.ttl.normal, restart=True)


@step("A3", role="new", namespace=NS, name="remove-build-users", title="remove the build accounts", confirms=True)
def remove_build_users(s):
    """A3 (new): userdel -r the build accounts (build_accounts.pattern) and take them out of sudoers (visudo -c)."""
    cfg, accounts = s.settings.build_accounts, s.settings.accounts
    users = cleanup.build_accounts(s.host.read_text("/etc/passwd"), cfg.pattern, accounts.uid_min, accounts.uid_max)
    if not users:
        s.host.say(f"no account matches {cfg.pattern}: unchanged")
        return
    names = [name for name, _ in users]
    s.say("A3: will remove (account, home, sudoers rules): " + ", ".join(f"{n} (uid {u})" for n, u in users))
    s.require(f"remove these {len(users)} accounts and their homes?", "not confirmed; nothing removed")
    passwd = s.host.read_text("/etc/passwd")
    uids = [u for _, u in cleanup.all_uids(passwd)]
    cleanup.remove_from_sudoers(s.host, cfg.sudoers, users, {u for u in uids if uids.count(u) == 1})
    for name in names:
        cleanup.userdel(s.host, name)


@phase_task("A1-A3", namespace=NS)
def all_(c):
    """A1-A3 (new): remove the reference copies, restore the TTL, remove the build accounts."""
    run_sequence(c, [remove_reference_copies, restore_ttl, remove_build_users], "after")
