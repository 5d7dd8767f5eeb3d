"""C10: restart networking on old and new, which moves each to its after address.

Why both restarts are LAUNCHED before either host is checked. The two hosts
exchange addresses. Whichever moves first takes an address the other still
holds: old at .21 while new is still there. During that window the address is
ambiguous (the operator's or router's ARP cache decides who gets a packet), so
a check of old at its after address could reach new, and new could become
unreachable (its address now answers from old) before its own restart was
launched. So, per host, one at a time, old first:

  1. pre-flight (nothing changed yet): the host still answers at its before
     address with its before name, its files are swapped (C8/C9: /etc/hostname
     holds the after name, an identity file holds the after address); the host
     key of the current, verified connection is remembered. A failure here on
     old stops before new is touched;
  2. launch, detached: `nohup sh -c 'sleep S; hostname -F /etc/hostname; RESTART;
     ping -c 2 OPERATOR' &`; the sleep lets the launch of the other host happen
     while both are still reachable (S = network.settle_seconds must exceed the
     time one launch takes, an SSH round trip), the host takes its after name
     before it moves (so whatever answers at the after address with the right
     key already has the right name), the ping makes the host announce its new
     address to the operator's side (ARP), which ends the ambiguity quickly;
     a failed launch on old stops before new;
  3. drop the connection, journal the host as UNKNOWN (its move launched,
     not confirmed: its steps refuse until it is found by its key), and point
     the operator's known_hosts line for its after address at its key;
then, once S seconds have passed since the first launch (no restart can have
happened before), one at a time, old first: poll the after address (every
POLL seconds, up to network.reconnect_timeout) until it answers with the
remembered host key - the connection checks it against known_hosts before any
login, so an address still held by the other machine costs no login - and the
role guard checks the after hostname. No fixed wait for the restart itself.

A machine is its host key, not an address or a name (both move here): the
key each alias had at first contact is on record in the journal, and every
connection is checked against it. A host that does not answer at its after
address is looked for at its before address, by its key: found there, it is
journalled not swapped; found nowhere it stays UNKNOWN (`fab status` says
so), and `fab locate` finds it once it answers.
"""

from __future__ import annotations

from __future__ import annotations

import time

from ..commands import Script
from ..errors import HostKeyError, RemoteError
from ..exposures import UNKNOWN, close_exposure, open_exposure
from ..session import fingerprint
from . import knownhosts

STEP = "C10"
POLL = 0.2  # seconds between two tries at the after address
SEQUENCE = 'OPERATOR=$1; shift; hostname -F /etc/hostname; "$@"; [ -n "$OPERATOR" ] && ping -c 2 -W 1 "$OPERATOR"; true'


def launch_script(settings, operator_ip: str | None) -> Script:
    """After the settle time: take the after name, restart networking (network.restart, as argv), ping the operator."""
    return Script(SEQUENCE, operator_ip or "", *settings.network.restart)


def preflight(step, host) -> dict:
    """Checks before anything moves; returns what the launch and the check need."""
    spec = host.spec
    hostname_file = host.read_text("/etc/hostname").strip()
    if hostname_file != spec.after.hostname:
        raise RemoteError(f"{host.alias}: /etc/hostname says {hostname_file!r}, not {spec.after.hostname!r}: run phase2.swap-identity (C8+C9) first")
    files = [p for p in step.settings.identity.files if p != "/etc/hostname" and host.exists(p)]
    if not host.check(["grep", "-qwF", "--", spec.after.ip, *files]):
        raise RemoteError(f"{host.alias}: no identity file holds its after address {spec.after.ip}: run phase2.swap-identity (C8+C9) first")
    operator_ip = host.probe(Script('echo "${SSH_CLIENT%% *}"')).stdout.strip() or None
    return {"key": host.server_key(), "operator_ip": operator_ip}


def known_hosts_names(spec, back: bool = False) -> list[str]:
    """The address it moves to first, then its names there (after the swap; before, when backing out)."""
    ident = spec.before if back else spec.after
    names = [ident.ip or (spec.address if back else ""), ident.fqdn, ident.hostname]
    return [knownhosts.host_field_name(n, spec.port) for n in dict.fromkeys(n for n in names if n)]


def mark(step, alias: str, swapped, detail: str) -> None:
    """Journal where `alias` is: True (after address), False (before), "unknown" (launched, not confirmed)."""
    step.session.journal.write("note", host=alias, task=step.info.task_name, step=STEP, swapped=swapped, detail=detail)


def _rewrite_known_hosts(step, spec, key, forget: bool, back: bool = False) -> bool:
    path = step.settings.operator.known_hosts

    def transform(text):
        for name in known_hosts_names(spec, back):
            text = (knownhosts.forget_host_key(text, name, key.get_base64()) if forget
                    else knownhosts.set_host_key(text, name, key.get_name(), key.get_base64()))
        return text

    return knownhosts.rewrite_file(path, transform)


def point_known_hosts(step, spec, key, back: bool = False) -> None:
    changed = _rewrite_known_hosts(step, spec, key, forget=False, back=back)
    print(f"[{spec.alias}] {step.settings.operator.known_hosts}: {', '.join(known_hosts_names(spec, back))} -> {key.get_name()} "
          f"{fingerprint(key)}{'' if changed else ' (unchanged)'}", file=step.session.out, flush=True)


def find_by_key(step, alias: str, address: str, timeout: float):
    """Connect to `address` until the machine bound to `alias` (its host key) answers, or `timeout` passes."""
    session = step.session
    spec = session.settings.host(alias)
    bound = session.journal.host_key(alias)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            return session.connect(spec, address, timeout=max(2, min(5, int(timeout))), expect_key=bound, by_key_only=True)
        except RemoteError as exc:  # HostKeyError included: the address may briefly answer from the other machine
            last = str(exc).splitlines()[0]
        if time.monotonic() > deadline:
            raise RemoteError(f"{alias}: not found at {address} within {timeout:g} s (last: {last})")
        time.sleep(POLL)


def verify(step, alias: str, timeout: float):
    """Find `alias` at its after address by its host key, then the role guard checks the after name."""
    session = step.session
    spec = session.settings.host(alias)
    find_by_key(step, alias, spec.after.ip, timeout).close()
    mark(step, alias, True, f"found at {spec.after.ip} by its host key")
    host = session.reconnect(alias, timeout=10)
    host.task, host.step = step.info.task_name, STEP
    session.guard(host, None, step.info.task_name)
    return host


def _plan(step, aliases: list[str]) -> tuple[list[str], dict]:
    """Which hosts still move (pre-flighted), which are already swapped; an UNKNOWN host refuses."""
    session = step.session
    todo, infos = [], {}
    for alias in aliases:
        state = session.journal.swapped(alias)
        if state is None:
            raise RemoteError(f"{alias} is UNKNOWN (a move was launched and not confirmed): run `fab locate` first; nothing was launched")
        host = step.on(alias)  # before: its before address; after: its after address; key and name checked
        if state:
            host.say(f"unchanged: already swapped, answers at {host.address} as {host.spec.after.hostname}")
            host.record("unchanged", detail="already swapped")
            continue
        infos[alias] = preflight(step, host)
        todo.append(alias)
    return todo, infos


def _launch_all(step, todo: list[str], infos: dict) -> tuple[list[str], RemoteError | None]:
    session = step.session
    launched = []
    for alias in todo:
        host = session.host(alias)
        try:
            host.launch(launch_script(step.settings, infos[alias]["operator_ip"]), delay=step.settings.network.settle_seconds,
                        what=f"network restart, detached ({' '.join(step.settings.network.restart)})")
        except RemoteError as exc:  # on old: new is not touched; on new: old is moving, checked below
            return launched, exc
        launched.append(alias)
        spec = host.spec
        session.drop(alias)
        mark(step, alias, "unknown", f"network restart launched: moving to {spec.after.ip} ({spec.after.hostname})")
        open_exposure(step, host, UNKNOWN)
        point_known_hosts(step, spec, infos[alias]["key"])
    return launched, None


def _confirm(step, alias: str, info: dict) -> str | None:
    """Find a launched host: at its after address (swapped), else at its before address (did not move). None = found."""
    session = step.session
    spec = session.settings.host(alias)
    timeout = step.settings.network.reconnect_timeout
    try:
        host = verify(step, alias, timeout)
        host.say(f"back at {spec.after.ip} as {spec.after.hostname}, same host key {fingerprint(info['key'])}")
        close_exposure(step, host, UNKNOWN, detail=f"found at {spec.after.ip} by its host key")
        return None
    except HostKeyError:
        raise
    except RemoteError as exc:
        reason = str(exc).splitlines()[0]
    session.drop(alias)
    _rewrite_known_hosts(step, spec, info["key"], forget=True)
    try:
        find_by_key(step, alias, spec.address, 5).close()
    except RemoteError:
        return f"{alias} is UNKNOWN: not at {spec.after.ip} ({reason}) nor at {spec.address}; once it answers, `fab locate` finds it by its key"
    mark(step, alias, False, f"did not move: still at {spec.address}")
    step.session.journal.write("note", host=alias, task=step.info.task_name, step=STEP, exposure=UNKNOWN, state="closed",
                               detail=f"found at {spec.address} (not moved)")
    return f"{alias} did not move (still at {spec.address}, {reason}): check its /etc/network/interfaces on its console, then run phase2.restart-network again (it launches only where needed)"


def restart_all(step, aliases: list[str]) -> None:
    """The whole C10 (see the module doc)."""
    todo, infos = _plan(step, aliases)
    if step.dry:
        for alias in todo:
            spec = step.session.settings.host(alias)
            step.session.host(alias).say(f"dry run: would launch the network restart, point known_hosts {spec.after.ip} -> "
                                         f"{fingerprint(infos[alias]['key'])}, and find {alias} there by its key as {spec.after.hostname}")
        return
    first_launch = time.monotonic()
    launched, error = _launch_all(step, todo, infos)
    if launched:  # the restarts start S seconds after the first launch, not before: then poll
        time.sleep(max(0.0, first_launch + step.settings.network.settle_seconds - time.monotonic()))
    problems = [p for p in (_confirm(step, alias, infos[alias]) for alias in launched) if p]
    if error is not None:
        problems.insert(0, f"{error}; launched before it: {', '.join(launched) or 'none'}")
    if problems:
        raise RemoteError("; ".join(problems))


def _look(step, alias: str) -> tuple[bool, str] | None:
    """One round: (swapped, address) where `alias`'s host key answers, after address first; None when neither does."""
    spec = step.session.settings.host(alias)
    for swapped, address in ((True, spec.after.ip), (False, spec.address)):
        try:
            find_by_key(step, alias, address, 2).close()
            return swapped, address
        except RemoteError:
            continue
    return None


def locate(step, aliases: list[str]) -> dict[str, str]:
    """Find each host by its host key at its after, then its before address, retrying until
    network.reconnect_timeout (a neighbour cache may still point an address at the other machine);
    journal the truth. {alias: where}."""
    found = {}
    for alias in aliases:
        spec = step.session.settings.host(alias)
        if step.session.journal.host_key(alias) is None:
            found[alias] = "no host key on record (never reached in this journal): nothing to compare with"
            continue
        deadline = time.monotonic() + max(10, step.settings.network.reconnect_timeout)
        where = _look(step, alias)
        while where is None and time.monotonic() < deadline:
            time.sleep(1)
            where = _look(step, alias)
        if where is None:
            found[alias] = f"not found at {spec.after.ip} nor {spec.address} (its key {fingerprint_of(step, alias)})"
            continue
        swapped, address = where
        if step.session.journal.swapped(alias) != swapped:
            mark(step, alias, swapped, f"located at {address} by its host key")
        _known_hosts_for(step, spec, step.session.journal.host_key(alias), back=not swapped)
        step.session.journal.write("note", host=alias, task=step.info.task_name, step=STEP, exposure=UNKNOWN, state="closed",
                                   detail=f"located at {address} by its host key")
        found[alias] = f"at {address} ({'swapped' if swapped else 'not swapped'})"
    return found


def _known_hosts_for(step, spec, key: str, back: bool) -> None:
    """known_hosts: the names where the host was found now carry its (proven) key."""
    key_type, blob = key.split()[:2]
    path = step.settings.operator.known_hosts

    def transform(text):
        for name in known_hosts_names(spec, back):
            text = knownhosts.set_host_key(text, name, key_type, blob)
        return text

    knownhosts.rewrite_file(path, transform)


def fingerprint_of(step, alias: str) -> str:
    from ..edit.authkeys import fingerprint as blob_fingerprint

    key = step.session.journal.host_key(alias)
    return blob_fingerprint(key.split()[-1]) if key else "unknown"


def move_back(step, aliases: list[str]) -> None:
    """Back-out's C10 in reverse: hosts whose identity files are back launch their network restart,
    and each is found at its before address by its host key (the same detached launch and key-based search)."""
    session = step.session
    todo, infos = [], {}
    for alias in aliases:
        if session.journal.swapped(alias) is not True:
            continue
        host = step.on(alias)
        name = host.read_text("/etc/hostname").strip()
        if name != host.spec.before.hostname:
            raise RemoteError(f"{alias}: /etc/hostname says {name!r}, not {host.spec.before.hostname!r}: its identity files are not back; nothing moved")
        infos[alias] = {"key": host.server_key(), "operator_ip": host.probe(Script('echo "${SSH_CLIENT%% *}"')).stdout.strip() or None}
        todo.append(alias)
    if step.dry or not todo:
        return
    first = time.monotonic()
    for alias in todo:
        host = session.host(alias)
        host.launch(launch_script(step.settings, infos[alias]["operator_ip"]), delay=step.settings.network.settle_seconds,
                    what="network restart back to the before address, detached")
        spec = host.spec
        session.drop(alias)
        mark(step, alias, "unknown", f"moving back to {spec.address} ({spec.before.hostname})")
        point_known_hosts(step, spec, infos[alias]["key"], back=True)
    time.sleep(max(0.0, first + step.settings.network.settle_seconds - time.monotonic()))
    for alias in todo:
        spec = session.settings.host(alias)
        find_by_key(step, alias, spec.address, step.settings.network.reconnect_timeout).close()
        mark(step, alias, False, f"found at {spec.address} by its host key (backed out)")
        host = session.reconnect(alias, timeout=10)
        session.guard(host, None, step.info.task_name)
        host.say(f"back at {spec.address} as {spec.before.hostname}")
