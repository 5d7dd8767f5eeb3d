"""S3: end the users' login sessions on old, never the operator's own, never a system daemon.

Who is killed is decided by pure functions over one `ps` listing taken in
the same shell whose PID (`$$`) identifies the operator's own connection:

* a *user* is an account with a UID in accounts.uid_min..uid_max that is not
  in sessions.spare_users (system daemons have lower UIDs, nobody a higher);
* a *login process* is an sshd session process of that user
  (`sshd: alice@pts/0`, `sshd: alice@notty`), a terminal multiplexer
  (screen, tmux) of sessions.login_commands, or another command of
  sessions.login_commands (shells) that has a terminal or runs under an sshd
  session, so a user's cron `sh -c` is no login;
* the victims are those login processes and the same user's processes
  below them;
* protected, whatever their owner: the `ps` shell's ancestors and everything
  under the topmost sshd session process among them (the operator's
  connection, all its channels).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..commands import Script
from ..errors import RemoteError

MULTIPLEXERS = frozenset({"screen", "tmux"})
PS = Script("echo $$; exec ps -eo pid=,ppid=,uid=,user:32=,tty=,args=")
_SSHD_SESSION = re.compile(r"^sshd: ([^\s@\[/]+)(?:@(\S+)| \[(?:priv|net|accepted)\])?\s*$")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    uid: int
    user: str
    tty: str
    args: str

    @property
    def command(self) -> str:
        """argv[0]'s basename without a login shell's leading '-' ("-bash" -> "bash")."""
        first = self.args.split()[0] if self.args.split() else ""
        return first.rsplit("/", 1)[-1].lstrip("-")

    @property
    def has_tty(self) -> bool:
        return self.tty not in ("?", "-", "")


def parse_ps(text: str) -> tuple[int | None, list[Proc]]:
    """(PID of the listing's shell, processes) from the output of PS."""
    lines = text.splitlines()
    own = None
    if lines and lines[0].strip().isdigit():
        own = int(lines.pop(0).strip())
    procs = []
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) < 5 or not (fields[0].isdigit() and fields[1].isdigit() and fields[2].isdigit()):
            continue
        procs.append(Proc(int(fields[0]), int(fields[1]), int(fields[2]), fields[3], fields[4], fields[5] if len(fields) > 5 else ""))
    return own, procs


def sshd_session_user(args: str) -> str | None:
    """The user of an sshd session process; None for the listener and anything else."""
    match = _SSHD_SESSION.match(args)
    return match.group(1) if match else None


def ancestors(procs: list[Proc], pid: int) -> list[Proc]:
    """pid itself, its parent, ... up to (not including) pid 1; stops at a loop or a gap."""
    by_pid = {p.pid: p for p in procs}
    chain, seen = [], set()
    while pid in by_pid and pid not in seen and pid > 1:
        seen.add(pid)
        chain.append(by_pid[pid])
        pid = by_pid[pid].ppid
    return chain


def descendants(procs: list[Proc], roots: set[int]) -> set[int]:
    """Every PID under `roots`, the roots included."""
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def protected_pids(procs: list[Proc], own_pid: int | None) -> set[int]:
    """The operator's connection: own ancestry, and all under its topmost sshd session process."""
    if own_pid is None:
        raise RemoteError("the process listing does not name its own shell; cannot tell the operator's session apart")
    chain = ancestors(procs, own_pid)
    sessions = [p for p in chain if sshd_session_user(p.args)]
    protected = {p.pid for p in chain} | {own_pid}
    if sessions:
        protected |= descendants(procs, {sessions[-1].pid})
    return protected


def is_user(proc: Proc, uid_min: int, uid_max: int, spare_users) -> bool:
    return uid_min <= proc.uid <= uid_max and proc.user not in spare_users


def login_processes(procs: list[Proc], login_commands) -> set[int]:
    commands = {c.lstrip("-") for c in login_commands}
    under_sshd = descendants(procs, {p.pid for p in procs if sshd_session_user(p.args)})
    found = set()
    for p in procs:
        if sshd_session_user(p.args):
            found.add(p.pid)
        elif p.command.lower() in MULTIPLEXERS and p.command.lower() in commands:
            found.add(p.pid)
        elif p.command in commands and (p.has_tty or p.pid in under_sshd):
            found.add(p.pid)
    return found


def choose_victims(procs: list[Proc], own_pid: int | None, *, uid_min: int, uid_max: int, spare_users, login_commands) -> list[Proc]:
    """The processes S3 ends, sorted by user then PID (see the module docstring for the rule)."""
    protected = protected_pids(procs, own_pid)
    by_pid = {p.pid: p for p in procs}
    logins = {pid for pid in login_processes(procs, login_commands) if is_user(by_pid[pid], uid_min, uid_max, spare_users)}
    victims = set()
    for pid in descendants(procs, logins):
        p = by_pid.get(pid)
        if p is None or pid in protected or pid <= 1:
            continue
        root_uids = {by_pid[r].uid for r in logins if pid in descendants(procs, {r})}
        if p.uid in root_uids and is_user(p, uid_min, uid_max, spare_users):
            victims.add(pid)
    return sorted((by_pid[pid] for pid in victims), key=lambda p: (p.user, p.pid))


def still_there(victims: list[Proc], procs: list[Proc]) -> list[Proc]:
    """Victims still alive: same PID, owner and command (a reused PID is someone else)."""
    now = {(p.pid, p.uid, p.args) for p in procs}
    return [v for v in victims if (v.pid, v.uid, v.args) in now]


def table(victims: list[Proc]) -> list[str]:
    lines = [f"  {'USER':<12} {'PID':>7} {'TTY':<8} COMMAND"]
    for p in victims:
        lines.append(f"  {p.user:<12} {p.pid:>7} {p.tty:<8} {p.args[:80]}")
    return lines


# ---- on a host -------------------------------------------------------------


def KILL(signal: str, pids: list[str]) -> Script:
    """kill -SIG PIDS; a process gone meanwhile is no failure."""
    return Script('sig=$1; shift; kill -"$sig" "$@" 2>/dev/null; true', signal, *pids)


def listing(host) -> tuple[int | None, list[Proc]]:
    result = host.probe(PS)
    return parse_ps(result.stdout)


def find_victims(step, host) -> list[Proc]:
    accounts, sessions = step.settings.accounts, step.settings.sessions
    own, procs = listing(host)
    return choose_victims(
        procs, own, uid_min=accounts.uid_min, uid_max=accounts.uid_max,
        spare_users=sessions.spare_users, login_commands=sessions.login_commands,
    )


def end_sessions(host, victims: list[Proc], *, grace: float = 3.0) -> list[Proc]:
    """TERM, wait up to `grace` s, KILL what is left; returns what survived even that."""
    pids = [str(p.pid) for p in victims]
    host.change(KILL("TERM", pids), what=f"kill -TERM {' '.join(pids)}")
    if host.dry:
        return []
    deadline = time.monotonic() + grace
    left = victims
    while left and time.monotonic() < deadline:
        time.sleep(0.3)
        left = still_there(left, listing(host)[1])
    if left:
        pids = [str(p.pid) for p in left]
        host.change(KILL("KILL", pids), what=f"kill -KILL {' '.join(pids)} (did not end on TERM)")
        time.sleep(0.5)
        left = still_there(left, listing(host)[1])
    return left
