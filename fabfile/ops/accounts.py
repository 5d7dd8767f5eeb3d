"""C3: old's users (UID range) merged into new's passwd, shadow, group, gshadow.

The plan is fabfile/edit/accounts.py's (names, UIDs, groups; never a hash).
This module adds what only a host can: the checks, the lock and the writes.

The lock. glibc's lckpwdf() takes a POSIX (fcntl) write lock on
/etc/.pwd.lock, waiting at most 15 s; useradd, passwd, chpasswd, vipw... all
take it (shadow-utils' commonio_lock) before they touch these files. Note that
flock(1) would NOT exclude them: on Linux flock() and fcntl() locks are
independent. So the lock is held by a tiny python3 helper on new, started on a
second channel of the same SSH connection, that takes the same fcntl lock
(lckpwdf semantics, 15 s budget) and keeps it until its stdin closes, i.e.
until this module closes the channel, or the connection dies (sshd closes the
pipe, the helper exits, the kernel drops the lock: no stale lock either way).
While it is held, the four files are re-read, the plan is made again and must
equal the one the operator confirmed, and each file goes through Host.edit
(diff, timestamped backup, temp file, atomic rename).

pwck -r / grpck -r. On a stock Debian `pwck -r` already exits 2 (system users
whose home directory does not exist: lp, news, ...), so "passes" means: no
complaint other than missing home directories before the merge (otherwise stop
and fix first), and no complaint after it that was not there before (other
than the missing home of a carried user, which C4 brings) - else the four
files are put back from their backups, still under the lock.
"""

from __future__ import annotations

import re
import time

from ..commands import Script, render
from ..edit.accounts import Accounts, plan_merge
from ..errors import RemoteError
from ..transaction import Transaction

FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
WRITE_ORDER = ("/etc/group", "/etc/gshadow", "/etc/shadow", "/etc/passwd")  # a user appears last
CHECK = Script('pwck -r 2>&1; echo "pwck-exit=$?"; grpck -r 2>&1; echo "grpck-exit=$?"')
_HOME = re.compile(r"^user '(?P<user>[^']+)': directory '[^']*' does not exist$")
_NOISE = re.compile(r"^(pwck|grpck): no changes$|^(pwck|grpck)-exit=\d+$")
LOCK_SCRIPT = r"""
import fcntl, os, sys, time
fd = os.open("/etc/.pwd.lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
deadline = time.monotonic() + 15
while True:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
    except OSError:
        if time.monotonic() > deadline:
            print("busy", flush=True)
            sys.exit(3)
        time.sleep(0.2)
print("locked", flush=True)
sys.stdin.read()
"""


# ---- pure helpers -----------------------------------------------------------


def check_report(output: str) -> tuple[set[str], set[str]]:
    """(users whose home is missing, other complaint lines) from CHECK's output."""
    homes, problems = set(), set()
    for line in output.splitlines():
        line = line.strip()
        if not line or _NOISE.match(line):
            continue
        match = _HOME.match(line)
        if match:
            homes.add(match["user"])
        else:
            problems.add(line)
    return homes, problems


def new_complaints(before: str, after: str, carried: set[str]) -> tuple[set[str], set[str]]:
    """(carried users whose home is missing, complaints that the merge introduced)."""
    homes_before, problems_before = check_report(before)
    homes_after, problems_after = check_report(after)
    new_homes = homes_after - homes_before
    introduced = problems_after - problems_before
    introduced |= {f"user '{u}': home directory missing" for u in new_homes - carried}
    return new_homes & carried, introduced


def inline_hash(lines) -> bool:
    """Does any passwd/group line carry a password hash in field 2 (no shadow)?"""
    for line in lines:
        fields = line.split(":")
        if len(fields) > 1 and fields[1] not in ("x", "*", "!", "!!", "", "!*"):
            return True
    return False


def plan_key(plan) -> tuple:
    """What the operator confirmed: users, groups and memberships by name and ID."""
    return (
        tuple((u.name, u.uid, u.gid) for u in plan.users),
        tuple((g.name, g.gid) for g in plan.groups),
        tuple((m.group, m.user) for m in plan.memberships),
    )


# ---- reading and planning ---------------------------------------------------


def read_accounts(host) -> tuple[Accounts, bool]:
    """The four files of a host; gshadow may be missing (returned flag False)."""
    texts = {}
    for path in FILES:
        texts[path] = host.read_text(path) if path != "/etc/gshadow" or host.exists(path) else None
    has_gshadow = texts["/etc/gshadow"] is not None
    accounts = Accounts.parse(texts["/etc/passwd"], texts["/etc/shadow"], texts["/etc/group"], texts["/etc/gshadow"] or "")
    return accounts, has_gshadow


def make_plan(step, old, new):
    cfg = step.settings.accounts
    old_accounts, _ = read_accounts(old)
    new_accounts, has_gshadow = read_accounts(new)
    return plan_merge(old_accounts, new_accounts, cfg.uid_min, cfg.uid_max), new_accounts, has_gshadow


def conflict_lines(plan) -> list[str]:
    fix = "fix it on new (usermod/groupmod) or on old, then run C3 again"
    return [f"CONFLICT {c}: {fix}" for c in plan.conflicts]


# ---- checks -----------------------------------------------------------------


def run_checks(host) -> str:
    result = host.probe(CHECK)
    if "pwck-exit=127" in result.stdout or "grpck-exit=127" in result.stdout:
        raise RemoteError(f"{host.alias}: pwck/grpck not found; install the passwd package on {host.alias}")
    return result.stdout


def check_before(host) -> str:
    output = run_checks(host)
    homes, problems = check_report(output)
    if homes:
        host.say(f"pwck -r: {len(homes)} account(s) without a home directory (already so, not a blocker): {', '.join(sorted(homes))}")
    if problems:
        for line in sorted(problems):
            host.say(f"pwck/grpck -r: {line}")
        raise RemoteError(
            f"{host.alias}: pwck -r / grpck -r report {len(problems)} problem(s) BEFORE the merge "
            f"(first: {sorted(problems)[0]}); fix them on new first (pwck/grpck without -r), then run C3 again"
        )
    host.say("pwck -r, grpck -r: no problems (missing home directories aside)")
    return output


# ---- the lock ---------------------------------------------------------------


class AccountsLock:
    """lckpwdf() semantics on a remote host, held by a helper on a second SSH channel."""

    def __init__(self, host, timeout: int = 30):
        self.host = host
        self.timeout = timeout
        self.channel = None

    def __enter__(self):
        if not self.host.check(["python3", "-c", "pass"]):
            raise RemoteError(f"{self.host.alias}: python3 is needed to hold /etc/.pwd.lock (lckpwdf); install python3 on it")
        channel = self.host.open_session()
        channel.settimeout(self.timeout)
        channel.exec_command(render(["python3", "-c", LOCK_SCRIPT]))
        line = b""
        deadline = time.monotonic() + self.timeout
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            chunk = channel.recv(64)
            if not chunk:
                break
            line += chunk
        if line.strip() != b"locked":
            channel.close()
            raise RemoteError(
                f"{self.host.alias}: could not take /etc/.pwd.lock ({line.strip().decode() or 'no answer'}): "
                f"someone is editing accounts (passwd, useradd, vipw); wait and run C3 again"
            )
        self.channel = channel
        self.host.say("holding /etc/.pwd.lock (lckpwdf)")
        return self

    def __exit__(self, *exc):
        if self.channel is not None:
            try:
                self.channel.shutdown_write()
                self.channel.recv_exit_status()
            finally:
                self.channel.close()
                self.channel = None
            self.host.say("released /etc/.pwd.lock")
        return False


# ---- the merge --------------------------------------------------------------


def plan(step, new):
    """The merge plan (shown to the operator; never a hash). Refuses on conflicts: nothing written."""
    old = step.on("old")
    merge_plan, _new_accounts, _has_gshadow = make_plan(step, old, new)
    for line in merge_plan.describe():
        step.say(line)
    if merge_plan.conflicts:
        for line in conflict_lines(merge_plan):
            step.say(line)
        raise RemoteError(f"{len(merge_plan.conflicts)} conflict(s) between old's and new's accounts (listed above): nothing written")
    return merge_plan


def preview(step, new, merge_plan) -> None:
    """Dry run: the diffs (names only) the merge would make."""
    _plan, new_accounts, has_gshadow = make_plan(step, step.on("old"), new)
    texts = dict(zip(FILES, merge_plan.apply(new_accounts)))
    for path in WRITE_ORDER:
        if path != "/etc/gshadow" or has_gshadow:
            new.edit(path, lambda _t, path=path: texts[path], secret=True)
    new.say(f"dry run: would back up /etc/shadow to {step.settings.accounts.shadow_backup} and write under /etc/.pwd.lock")


def _write(new, plan_now, new_accounts, has_gshadow) -> list:
    texts = dict(zip(FILES, plan_now.apply(new_accounts)))
    originals = dict(zip(FILES, new_accounts.texts()))
    secret = {"/etc/passwd": inline_hash(u.passwd_line for u in plan_now.users), "/etc/group": inline_hash(g.group_line for g in plan_now.groups)}
    results = []
    for path in WRITE_ORDER:
        if path == "/etc/gshadow" and not has_gshadow:
            if texts[path]:
                new.say("/etc/gshadow: not on new, not created (its group lines are in /etc/group)")
            continue

        def transform(text, path=path):
            if text != originals[path]:
                raise RemoteError(f"{new.alias}: {path} changed under the lock; run C3 again")
            return texts[path]

        results.append(new.edit(path, transform, secret=secret.get(path)))
    return results


def apply_plan(step, new, confirmed: tuple, before_check: str) -> list:
    """Under the lock, in one transaction: plan again (must equal the confirmed one), back up, write, check; else roll back."""
    cfg = step.settings.accounts
    old = step.on("old")
    with AccountsLock(new):
        plan_now, new_accounts, has_gshadow = make_plan(step, old, new)
        if plan_now.conflicts or plan_key(plan_now) != confirmed:
            raise RemoteError(f"{new.alias}: the accounts changed since the plan was shown; run C3 again to see the new plan")
        new.change(["cp", "-a", "--", "/etc/shadow", cfg.shadow_backup], what=f"cp -a /etc/shadow {cfg.shadow_backup}")
        with Transaction(step, new, [p for p in WRITE_ORDER if p != "/etc/gshadow" or has_gshadow]) as tx:
            results = []
            try:
                results = _write(new, plan_now, new_accounts, has_gshadow)
                missing, introduced = new_complaints(before_check, run_checks(new), {u.name for u in plan_now.users})
                if introduced:
                    raise RemoteError(f"{new.alias}: after the merge pwck/grpck -r report: {'; '.join(sorted(introduced))}")
            except RemoteError as exc:
                tx.undo()
                raise RemoteError(f"{exc}; the account files were put back from their backups") from None
    step.note(f"accounts merged into {new.alias}: {', '.join(u.name for u in plan_now.users)}",
              accounts_added=[u.name for u in plan_now.users], groups_added=[g.name for g in plan_now.groups])
    if missing:
        new.say(f"pwck -r: no home directory yet for {', '.join(sorted(missing))} (C4 rsync-home brings it)")
    new.say("pwck -r, grpck -r: nothing new after the merge")
    return results
