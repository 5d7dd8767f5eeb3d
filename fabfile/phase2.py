"""phase2: copy the data (crontabs, accounts, /home, pop.auth) and swap the identities."""

from __future__ import annotations

from .errors import RemoteError
from .ops import accounts, authkeys, files, identity, mail, network, sshd, transfer
from .steps import each_host, phase_task, run_sequence, step
from .transaction import recover

NS = "phase2"


@step("C1", role="new", namespace=NS, name="allow-root-login", title="allow root login on new")
def allow_root_login(s):
    """C1 (new): let old's root key in, as P1 (where sshd reads it, sshd -t, restart, sshd -T proves it, fresh login)."""
    sshd.open_root_login(s, s.host)


@step("C2", role="old", namespace=NS, name="copy-crontabs", title="copy crontabs", hosts=("old", "new"))
def copy_crontabs(s):
    """C2 (old -> new): every crontab to new, same bytes, mode, owner and group."""
    files.copy_dir_files(s.host, s.on("new"), s.settings.crontabs.dir)


@step("C3", role="new", namespace=NS, name="merge-accounts", title="merge user accounts", hosts=("new", "old"), confirms=True)
def merge_accounts(s):
    """C3 (new, reading old): add old's users (UID range) to passwd/shadow/group under the lock, all or nothing; --yes."""
    if recover(s, s.host):
        return
    plan = accounts.plan(s, s.host)
    if plan.is_empty:
        s.host.say("accounts: unchanged (every user of the range is already on new)")
        s.host.record("unchanged", detail="accounts: nothing to add")
        return
    before = accounts.check_before(s.host)
    if s.dry:
        return accounts.preview(s, s.host, plan)
    s.require(f"add these {len(plan.users)} user(s) and {len(plan.groups)} group(s) to new?", "not confirmed (answer y, or pass --yes): nothing written")
    accounts.apply_plan(s, s.host, accounts.plan_key(plan), before)


@step("C4", role="old", namespace=NS, name="rsync-home", title="rsync /home", hosts=("old", "new"), confirms=True)
def rsync_home(s):
    """C4 (old): old's queued local mail delivered first; rsync /home to new again (dry run, accept deletions or --yes, real run)."""
    mail.drain(s, s.host)
    summary = transfer.review(s, s.host, "C4")
    if summary is not None:
        s.accept_all(summary.needs_acceptance(), "not accepted: add an --exclude to rsync.excludes (or fix the cause on old); nothing copied")
        transfer.record_accepted(s, summary)
    transfer.real_run(s, s.host)


@step("C5", role="new", namespace=NS, name="close-root-login", title="close root login on new")
def close_root_login(s):
    """C5 (new): undo exactly what C1 changed; restart sshd; sshd -T shows the value of before."""
    sshd.close_root_login(s, s.host)


@step("C6", role="old", namespace=NS, name="restrict-new-key", title="restrict new's key on old", hosts=("old", "new"))
def restrict_new_key(s):
    """C6 (old): new's key rsync-only in root's authorized_keys, then the file renamed away."""
    authkeys.restrict_and_rename(s, s.host, s.on("new"))


@step("C7", role="old", namespace=NS, name="copy-pop-auth", title="copy the POP password database", hosts=("old", "new"))
def copy_pop_auth(s):
    """C7 (old -> new): pop.auth root to root, owner pop:mail, mode kept (shown as sha256 only)."""
    cfg = s.settings.pop_auth
    files.copy_secret_file(s.host, s.on("new"), cfg.path, cfg.owner, cfg.group)


@step("C8", "C9", role=None, namespace=NS, name="swap-identity", title=("swap host names", "swap IP addresses"), hosts=("old", "new"))
def swap_identity(s):
    """C8+C9 (old, new): swap names and addresses in identity.files, all or nothing per host; serials bumped; leftovers."""
    mapping = identity.mapping_for(s.settings)
    s.say("mapping: " + ", ".join(f"{a} -> {b}" for a, b in mapping.items()))

    # An interrupted swap is rolled back on every host before any host swaps: never one host swapped
    # and the other as before (the next run does both).
    recovered = each_host(s, ("old", "new"), lambda host: recover(s, host), "C8 recovery")
    rolled = [role for role, back in zip(("old", "new"), recovered) if back]
    if rolled:
        raise RemoteError(f"rolled back an interrupted swap on {', '.join(rolled)}; old and new are both as before; run C8 again")

    def swap(host):  # old and new at the same time: each host's files are its own
        problems = identity.swap_host(s, host, mapping)
        identity.leftovers(s, host)
        return problems

    problems = [p for found in each_host(s, ("old", "new"), swap, "C8+C9 swap") for p in found]
    if problems:
        raise RemoteError(f"{len(problems)} file(s) refused (listed above): {problems[0]}")


@step("C10", role=None, namespace=NS, name="restart-network", title="restart networking", hosts=("old", "new"))
def restart_network(s):
    """C10 (old, new): restart networking detached, find each host at its after address by its host key."""
    network.restart_all(s, [s.settings.by_role("old").alias, s.settings.by_role("new").alias])


@phase_task("C1-C10", namespace=NS)
def all_steps(c):
    """C1-C10 (new, old): the whole phase in order; root login on new is closed (C5) even when C2-C4 fail."""
    try:
        run_sequence(c, [allow_root_login, copy_crontabs, merge_accounts, rsync_home], "phase2")
    finally:
        close_root_login(c)  # directly, never skipped: closing what is open is always right (unchanged if closed)
    run_sequence(c, [restrict_new_key, copy_pop_auth, swap_identity, restart_network], "phase2 (after C5)")
