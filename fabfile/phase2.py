"""phase2: copy the data (crontabs, accounts, /home, pop.auth) and swap the identities."""

from __future__ import annotations



from .ops import accounts, authkeys, files, identity, network, sshd, transfer
from .remote import RemoteError
from .steps import each_host, run_sequence, step

NS = "phase2"


@step("C1", role="new", namespace=NS, name="allow-root-login")
def allow_root_login(s):
    """C1 (new): let old's root key in, as P1 (PermitRootLogin, sshd -t, restart, fresh login)."""
    sshd.open_root_login(s, s.host)


@step("C2", role="old", namespace=NS, name="copy-crontabs")
def copy_crontabs(s):
    """C2 (old -> new): every crontab to new, same bytes, mode, owner and group."""
    files.copy_dir_files(s.host, s.on("new"), s.settings["crontabs"]["dir"])


@step("C3", role="new", namespace=NS, name="merge-accounts")
def merge_accounts(s, yes=False):
    """C3 (new, reading old): add old's users (UID range) to passwd/shadow/group under the lock; --yes."""
    s.session.assume_yes |= yes
    accounts.merge(s, s.host)


@step("C4", role="old", namespace=NS, name="rsync-home")
def rsync_home(s, yes=False):
    """C4 (old): rsync /home to new again (dry run, accept deletions or --yes, real run)."""
    s.session.assume_yes |= yes
    transfer.review(s, s.host, "C4")
    transfer.real_run(s, s.host)


@step("C5", role="new", namespace=NS, name="close-root-login")
def close_root_login(s):
    """C5 (new): sshd_config back as it was before C1; restart sshd."""
    sshd.close_root_login(s, s.host)


@step("C6", role="old", namespace=NS, name="restrict-new-key")
def restrict_new_key(s):
    """C6 (old): new's key rsync-only in root's authorized_keys, then the file renamed away."""
    authkeys.restrict_and_rename(s, s.host, s.on("new"))


@step("C7", role="old", namespace=NS, name="copy-pop-auth")
def copy_pop_auth(s):
    """C7 (old -> new): pop.auth root to root, owner pop:mail, mode kept (shown as sha256 only)."""
    cfg = s.settings["pop_auth"]
    files.copy_secret_file(s.host, s.on("new"), cfg["path"], cfg["owner"], cfg["group"])


@step("C8", "C9", role=None, namespace=NS, name="swap-identity")
def swap_identity(s):
    """C8+C9 (old, new): swap names and addresses in identity.files, bump zone serials, report leftovers."""
    mapping = identity.mapping_for(s.settings)
    s.say("mapping: " + ", ".join(f"{a} -> {b}" for a, b in mapping.items()))

    def swap(host):  # old and new at the same time: each host's files are its own
        problems = identity.swap_host(s, host, mapping)
        identity.leftovers(s, host)
        return problems

    problems = [p for found in each_host(s, ("old", "new"), swap, "C8+C9 swap") for p in found]
    if problems:
        raise RemoteError(f"{len(problems)} file(s) refused (listed above): {problems[0]}")


@step("C10", role=None, namespace=NS, name="restart-network")
def restart_network(s):
    """C10 (old, new): restart networking detached, reconnect at the after addresses, check name and host key."""
    order = [s.settings.by_role("old").alias, s.settings.by_role("new").alias]
    failed = network.restart_all(s, order)
    if failed:
        raise RemoteError(
            f"{', '.join(failed)} did not come back at the after address: journalled NOT swapped; "
            f"check it on its console (ip addr, /etc/network/interfaces), then run phase2.restart-network again"
        )


@step("C1-C10", role=None, namespace=NS, name="all", default=True)
def all_steps(s, yes=False):
    """C1-C10 (new, old): the whole phase in order; root login on new is closed (C5) even when C2-C4 fail."""
    s.session.assume_yes |= yes
    try:
        run_sequence(s.c, [allow_root_login, copy_crontabs, merge_accounts, rsync_home], "phase2")
    finally:
        close_root_login(s.c)
    run_sequence(s.c, [restrict_new_key, copy_pop_auth, swap_identity, restart_network], "phase2 (after C5)")
