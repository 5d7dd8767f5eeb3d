"""after: about a week later, on new. Remove the reference copies, restore the TTL, remove the build accounts."""

from __future__ import annotations

from invoke.exceptions import Exit

from .ops import cleanup, zones
from .steps import run_sequence, step

NS = "after"


@step("A1", role="new", namespace=NS, name="remove-reference-copies")
def remove_reference_copies(s, yes=False):
    """A1 (new): rm -r the copies from old kept for reference (cleanup.paths), after a confirmation."""
    s.session.assume_yes |= yes
    present = cleanup.existing(s.host, s.settings["cleanup"]["paths"])
    if not present:
        s.host.say(f"none of cleanup.paths ({len(s.settings['cleanup']['paths'])}) is there: unchanged")
        return
    size = cleanup.sizes(s.host, present)
    s.say("A1: will remove:\n" + "\n".join(f"  {size.get(p, '?'):>6}  {p}" for p in present))
    if not s.dry and not s.confirm(f"remove these {len(present)} paths for good?"):
        raise Exit("A1: not confirmed; nothing removed")
    cleanup.remove(s.host, present)


@step("A2", role="new", namespace=NS, name="restore-ttl")
def restore_ttl(s):
    """A2 (new): back up namedb as namedb-YYYYMMDD, $TTL -> ttl.normal, serials bumped, restart BIND."""
    zones.backup_data(s, s.host)
    ttl = s.settings["ttl"]["normal"]
    if not zones.apply_ttl(s, s.host, ttl, restart=True):
        s.say(f"A2: every zone file already has $TTL {ttl}: unchanged")


@step("A3", role="new", namespace=NS, name="remove-build-users")
def remove_build_users(s, yes=False):
    """A3 (new): userdel -r the build accounts (build_accounts.pattern) and take them out of sudoers (visudo -c)."""
    s.session.assume_yes |= yes
    cfg, accounts = s.settings["build_accounts"], s.settings["accounts"]
    users = cleanup.build_accounts(s.host.read_text("/etc/passwd"), cfg["pattern"], accounts["uid_min"], accounts["uid_max"])
    if not users:
        s.host.say(f"no account matches {cfg['pattern']}: unchanged")
        return
    names = [name for name, _ in users]
    s.say("A3: will remove (account, home, sudoers rules): " + ", ".join(f"{n} (uid {u})" for n, u in users))
    if not s.dry and not s.confirm(f"remove these {len(users)} accounts and their homes?"):
        raise Exit("A3: not confirmed; nothing removed")
    cleanup.remove_from_sudoers(s.host, cfg["sudoers"], names)
    for name in names:
        cleanup.userdel(s.host, name)


@step("A1-A3", role=None, namespace=NS, name="all", default=True)
def all_(s, yes=False):
    """A1-A3 (new): remove the reference copies, restore the TTL, remove the build accounts."""
    s.session.assume_yes |= yes
    run_sequence(s.c, [remove_reference_copies, restore_ttl, remove_build_users], "after")
