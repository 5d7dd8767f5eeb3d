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
  3. drop the connection, journal the host as swapped, and point the
     operator's known_hosts line for its after address at the remembered key;
then, once S seconds have passed since the first launch (no restart can have
happened before), one at a time, old first: poll the after address (every
POLL seconds, up to network.reconnect_timeout) until it answers with the
remembered host key - the connection checks it against known_hosts before any
login, so an address still held by the other machine costs no login - and the
role guard checks the after hostname. No fixed wait for the restart itself. A host that does
not come back is journalled NOT swapped again (swapped=False), its new
known_hosts line is removed, and it is reported; the other host is not touched.
"""

from __future__ import annotations

import shlex
import time

from ..remote import Host, RemoteError
from ..session import HostKeyError, fingerprint
from . import knownhosts

STEP = "C10"
POLL = 0.2  # seconds between two tries at the after address


def launch_command(settings, operator_ip: str | None) -> str:
    cfg = settings["network"]
    inner = f"sleep {cfg['settle_seconds']:g}; hostname -F /etc/hostname; {cfg['restart']}"
    if operator_ip:
        inner += f"; ping -c 2 -W 1 {shlex.quote(operator_ip)}"
    return f"nohup sh -c {shlex.quote(inner)} >/dev/null 2>&1 &"


def remote_key(host: Host):
    return host.c.client.get_transport().get_remote_server_key()


def preflight(step, host: Host) -> dict:
    """Checks before anything moves; returns what the launch and the check need."""
    spec = host.spec
    hostname_file = host.read_text("/etc/hostname").strip()
    if hostname_file != spec.after.hostname:
        raise RemoteError(
            f"{host.alias}: /etc/hostname says {hostname_file!r}, not {spec.after.hostname!r}: "
            f"run phase2.swap-identity (C8+C9) first"
        )
    files = [p for p in step.settings["identity"]["files"] if p != "/etc/hostname"]
    listing = " ".join(shlex.quote(p) for p in files)
    if not host.check(f"grep -lwF -- {shlex.quote(spec.after.ip)} {listing} 2>/dev/null | grep -q ."):
        raise RemoteError(
            f"{host.alias}: no identity file holds its after address {spec.after.ip}: run phase2.swap-identity (C8+C9) first"
        )
    operator_ip = host.probe('echo "${SSH_CLIENT%% *}"').stdout.strip() or None
    key = remote_key(host)
    return {"key": key, "operator_ip": operator_ip}


def known_hosts_name(spec) -> str:
    return knownhosts.host_field_name(spec.after.ip, spec.port)


def known_hosts_names(spec) -> list[str]:
    """The after address first, then the after names: all now belong to this host's key."""
    names = [spec.after.ip, spec.after.fqdn, spec.after.hostname]
    return [knownhosts.host_field_name(n, spec.port) for n in dict.fromkeys(n for n in names if n)]


def launch(step, host: Host, info: dict) -> None:
    command = launch_command(step.settings, info["operator_ip"])
    host.say(f"network restart, detached: {command}")
    result = host.c.run(command, hide=True, warn=True, in_stream=False, dry=False, timeout=30)
    if not result.ok:
        raise RemoteError(f"{host.alias}: could not launch the network restart (exit {result.exited}); nothing moved")
    host.record("change", detail=f"network restart launched ({step.settings['network']['restart']})")


def mark(step, alias: str, swapped: bool, detail: str) -> None:
    step.session.journal.write("note", host=alias, task=step.info.task_name, step=STEP, swapped=swapped, detail=detail)


def point_known_hosts(step, spec, key) -> None:
    path = step.settings["operator"]["known_hosts"]
    names = known_hosts_names(spec)

    def transform(text):
        for name in names:
            text = knownhosts.set_host_key(text, name, key.get_name(), key.get_base64())
        return text

    changed = knownhosts.rewrite_file(path, transform)
    print(f"[{spec.alias}] {path}: {', '.join(names)} -> {key.get_name()} {fingerprint(key)}{'' if changed else ' (unchanged)'}",
          file=step.session.out, flush=True)


def forget_known_hosts(step, spec, key) -> None:
    path = step.settings["operator"]["known_hosts"]

    def transform(text):
        for name in known_hosts_names(spec):
            text = knownhosts.forget_host_key(text, name, key.get_base64())
        return text

    knownhosts.rewrite_file(path, transform)


def verify(step, alias: str, key) -> Host:
    """Reconnect at the after address until it is the right machine: same host key, after name.

    Every failure is retried with a fresh connection until network.reconnect_timeout,
    a host key mismatch included: while the two hosts swap, an address can
    briefly answer from the other machine (it still holds it, or an ARP cache
    still points at it).
    """
    session = step.session
    spec = session.settings.host(alias)
    timeout = step.settings["network"]["reconnect_timeout"]
    deadline = time.monotonic() + timeout
    while True:
        session.drop(alias)
        try:
            host = session.host(alias)
            host.task, host.step = step.info.task_name, STEP
            seen = remote_key(host)
            if seen.asbytes() != key.asbytes():  # known_hosts already enforces it; say it in plain words too
                raise HostKeyError(f"{alias}: {spec.after.ip} answered with host key {fingerprint(seen)}, expected {fingerprint(key)}")
            session.guard(host, None, step.info.task_name)
            return host
        except RemoteError as exc:
            if time.monotonic() > deadline:
                session.drop(alias)
                raise RemoteError(f"{alias}: not back as {spec.after.hostname} at {spec.after.ip} within {timeout} s "
                                  f"(last: {str(exc).splitlines()[0]})") from None
            time.sleep(POLL)


def restart_all(step, aliases: list[str]) -> list[str]:
    """The whole C10 (see the module doc). Returns the aliases that did not come back."""
    session = step.session
    todo, infos = [], {}
    for alias in aliases:
        if session.journal.swapped(alias):
            host = step.on(alias)  # connects at the after address, checks key and after name
            host.say(f"unchanged: already swapped, answers at {host.c.host} as {host.spec.after.hostname}")
            host.record("unchanged", detail="already swapped")
            continue
        infos[alias] = preflight(step, step.on(alias))
        todo.append(alias)
    if step.dry:
        for alias in todo:
            spec = session.settings.host(alias)
            session.host(alias).say(
                f"dry run: would launch `{launch_command(step.settings, infos[alias]['operator_ip'])}`, "
                f"point {step.settings['operator']['known_hosts']} at {known_hosts_name(spec)} -> "
                f"{fingerprint(infos[alias]['key'])}, reconnect and expect {spec.after.hostname}"
            )
        return []
    launched, error = [], None
    first_launch = time.monotonic()
    for alias in todo:
        try:
            launch(step, session.host(alias), infos[alias])
        except RemoteError as exc:  # on old: new is not touched; on new: old is moving, check it
            error = exc
            break
        launched.append(alias)
    for alias in launched:
        spec = session.settings.host(alias)
        session.drop(alias)
        mark(step, alias, True, f"network restart launched: now {spec.after.ip} ({spec.after.hostname})")
        point_known_hosts(step, spec, infos[alias]["key"])
    if launched:  # the restarts start S seconds after the first launch, not before: then poll (verify)
        time.sleep(max(0.0, first_launch + step.settings["network"]["settle_seconds"] - time.monotonic()))
    failed = []
    for alias in launched:
        spec = session.settings.host(alias)
        try:
            host = verify(step, alias, infos[alias]["key"])
        except RemoteError as exc:
            session.drop(alias)
            mark(step, alias, False, f"did not come back at {spec.after.ip}: {str(exc).splitlines()[0]}")
            forget_known_hosts(step, spec, infos[alias]["key"])
            print(f"[{alias}] FAILED: did not come back as {spec.after.hostname} at {spec.after.ip}: {exc}",
                  file=session.out, flush=True)
            failed.append(alias)
            continue
        host.say(f"back at {spec.after.ip} as {spec.after.hostname}, same host key {fingerprint(infos[alias]['key'])}")
    if error is not None:
        raise RemoteError(f"{error}; launched before it: {', '.join(launched) or 'none'}"
                          f"{'; not back: ' + ', '.join(failed) if failed else ''}")
    return failed
