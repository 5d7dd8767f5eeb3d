"""One session per `fab` process: settings, journal, and one connection per host.

Fabric opens a fresh connection per task x host; a swap night runs dozens
of tasks, and sshd logs are evidence the operator may need later, so every
task of a `fab` run shares one SSH connection per host (see fabric-notes.md).
The session is also where host keys are checked: Fabric would accept any
key, which is exactly wrong on the night two machines exchange addresses.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

import paramiko
from fabric import Connection

from . import settings as settings_mod
from .edit.authkeys import fingerprint as blob_fingerprint
from .errors import HostKeyError, RemoteError
from .journal import Journal
from .output import synced
from .remote import Host


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """ssh's StrictHostKeyChecking=accept-new: record a first-seen key, never a changed one."""

    def __init__(self, known_hosts: str):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        os.makedirs(os.path.dirname(self.known_hosts) or ".", exist_ok=True)
        with open(self.known_hosts, "a") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        print(f"recorded new host key for {hostname} ({key.get_name()} {fingerprint(key)}) in {self.known_hosts}", file=sys.stderr)


def keep_alive(transport, interval: int) -> None:
    """Notice a cut link within about 3 x interval seconds, not after TCP's quarter of an hour.

    paramiko's keepalive only sends (a keepalive@openssh.com request every
    `interval` s, answered or not); TCP_USER_TIMEOUT makes the kernel drop
    the connection once sent data stays unacknowledged that long, so a
    command on a host whose link was cut fails with one line instead of
    hanging (and an idle connection is probed by the keepalives themselves).
    """
    transport.set_keepalive(interval)
    sock = transport.sock
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(3 * interval, 10) * 1000)
    except (AttributeError, OSError):  # not a TCP socket (a proxy), or not Linux
        pass


def key_text(key) -> str:
    """"type base64" of a paramiko key: how the journal binds an alias to its machine."""
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint(key) -> str:
    """A paramiko key's SHA256 fingerprint, as ssh-keygen -l prints it."""
    return blob_fingerprint(key.get_base64())


class Session:
    def __init__(self, settings, *, dry: bool = False, out=None, config=None, assume_yes: bool | None = None):
        self.settings = settings
        self.dry = dry
        self.out = synced(out or sys.stdout)
        self.config = config
        self.journal = Journal(settings.operator.journal)
        self.hosts: dict[str, Host] = {}
        self.guarded: set[tuple[str, bool]] = set()
        env_yes = os.environ.get("SERVERSWAP_YES", "") not in ("", "0", "no")
        self.assume_yes = env_yes if assume_yes is None else assume_yes
        self.connections_opened = 0
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        from .edit import secrets

        for secret in (settings.checks.pop_password, settings.checks.list_member_password):
            if secret:
                secrets.add(secret)   # never shown, whatever prints it

    def _alias_lock(self, alias: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(alias, threading.Lock())

    # -- connections --------------------------------------------------
    def host(self, alias: str) -> Host:
        host = self.hosts.get(alias)
        if host is not None:
            return host
        with self._alias_lock(alias):  # two threads wanting the same host open ONE connection
            return self._open_host(alias)

    def _open_host(self, alias: str) -> Host:
        if alias not in self.hosts:
            spec = self.settings.host(alias)
            swapped = self.journal.swapped(alias)
            if swapped is None:
                raise RemoteError(
                    f"{alias} is UNKNOWN: its move (C10) was launched and not confirmed, so neither of its addresses "
                    f"is known to be it; run `fab locate` (it finds {alias} by its host key at {spec.address} or {spec.address_after})")
            bound = self.journal.host_key(alias)
            cxn = self.connect(spec, spec.address_for(swapped), expect_key=bound)
            if bound is None:
                key = cxn.client.get_transport().get_remote_server_key()
                self.journal.write("note", host=alias, host_key=key_text(key), detail=f"host key on record: {fingerprint(key)}")
            self.hosts[alias] = Host(spec, cxn, dry=self.dry, journal=self.journal, out=self.out,
                                     backup_dir=self.settings.operator.remote_backup_dir)
        return self.hosts[alias]

    def _check_identity(self, cxn, spec, address: str, expect_key: str) -> None:
        """The machine reached must be the one `spec.alias` is bound to: its host key, whatever the address."""
        key = cxn.client.get_transport().get_remote_server_key()
        if key_text(key) == expect_key:
            return
        cxn.close()
        owner = self.journal.key_owner(key_text(key))
        who = f"that is {owner}'s key" if owner else "a key no host of this night had"
        raise HostKeyError(
            f"{spec.alias}: the machine at {address} is not {spec.alias}: its host key is {fingerprint(key)} ({who}); "
            f"{spec.alias} is the machine with key {blob_fingerprint(expect_key.split()[-1])}; nothing was done there; "
            f"run `fab locate` to find {spec.alias}, or `fab status` to see where each host is")

    def _key_policy(self, cxn, by_key_only: bool) -> None:
        operator = self.settings.operator
        if by_key_only:  # in memory only: the key is compared with the alias's bound key after the handshake
            cxn.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            return
        if os.path.exists(operator.known_hosts):
            cxn.client.load_host_keys(operator.known_hosts)
        policy = AcceptNewPolicy(operator.known_hosts) if operator.accept_new_host_keys else paramiko.RejectPolicy()
        cxn.client.set_missing_host_key_policy(policy)

    def connect(self, spec, address: str, *, timeout: int | None = None, expect_key: str | None = None,
                by_key_only: bool = False) -> Connection:
        """A new, opened connection. Host keys: known_hosts by address (as ssh), and, with `expect_key`, the key
        the alias is bound to; `by_key_only` skips known_hosts (finding a host whose address is in doubt: C10, locate)."""
        operator = self.settings.operator
        timeout = timeout or operator.connect_timeout
        connect_kwargs = {"allow_agent": False, "look_for_keys": spec.key is None, "banner_timeout": timeout, "auth_timeout": timeout}
        if spec.key:
            connect_kwargs["key_filename"] = [spec.key]
        kwargs = dict(host=address, user=spec.user, port=spec.port, connect_timeout=timeout, connect_kwargs=connect_kwargs)
        if self.config is not None:
            kwargs["config"] = self.config
        cxn = Connection(**kwargs)
        known = operator.known_hosts
        self._key_policy(cxn, by_key_only and bool(expect_key))
        try:
            cxn.open()
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(
                f"{spec.alias}: the host key at {address} CHANGED (now {fingerprint(exc.key)}); "
                f"if this is expected, remove the old line from {known} (ssh-keygen -R {address} -f {known})"
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyError(
                    f"{spec.alias}: no known host key for {address} in {known}; add it (ssh-keyscan, checked out of band) "
                    f"or set operator.accept_new_host_keys = true for a first contact"
                ) from None
            raise RemoteError(f"{spec.alias}: SSH to {spec.user}@{address}:{spec.port} failed ({exc}); check address, user and key in hosts.toml") from None
        except (socket.timeout, TimeoutError, OSError) as exc:
            raise RemoteError(
                f"{spec.alias}: cannot reach {address}:{spec.port} ({exc.__class__.__name__}: {exc}); "
                f"check that the host is up and hosts.{spec.alias}.address is right"
            ) from None
        if expect_key:
            self._check_identity(cxn, spec, address, expect_key)
        if operator.keepalive:
            keep_alive(cxn.transport, operator.keepalive)
        self.connections_opened += 1
        return cxn

    def fresh_login(self, spec, address: str) -> bool:
        """A brand-new SSH connection (not the reused one) logs in and runs a command: sshd accepts us."""
        for _ in range(10):
            try:
                cxn = self.connect(spec, address, timeout=5)
            except HostKeyError:
                raise
            except RemoteError:
                time.sleep(0.3)
                continue
            try:
                return cxn.run("true", hide=True, warn=True, in_stream=False, dry=False).ok
            except Exception:  # noqa: BLE001 - a login that dies is a failed login
                return False
            finally:
                cxn.close()
        return False

    def announce_open(self) -> None:
        """Once per run: say first what the journal shows still open (root login, stopped services, unknown hosts)."""
        if getattr(self, "_announced", False):
            return
        self._announced = True
        from .exposures import open_exposure_lines

        for line in open_exposure_lines(self.journal.records(), self.settings):
            print(f"!! {line}", file=self.out, flush=True)

    def drop(self, alias: str) -> None:
        host = self.hosts.pop(alias, None)
        if host is not None:
            try:
                host.close()
            except Exception:
                pass
        self.guarded = {g for g in self.guarded if g[0] != alias}

    def reconnect(self, alias: str, *, timeout: int) -> Host:
        """Connect again (at the address the journal now implies), retrying until `timeout`."""
        self.drop(alias)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.host(alias)
            except HostKeyError:
                raise
            except RemoteError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def close(self) -> None:
        for alias in list(self.hosts):
            self.drop(alias)

    # -- the role guard -----------------------------------------------
    def guard(self, host: Host, role: str | None, task_name: str) -> None:
        """Refuse to touch a machine that is not the one hosts.toml says.

        Checked once per host and swap state: the role of the alias, then the
        name the machine itself reports (before or after the swap).
        """
        spec = host.spec
        if role and spec.role != role:
            raise RemoteError(f"{task_name} is for {role}; {spec.label()} is not {role}")
        swapped = self.journal.swapped(spec.alias)
        if (spec.alias, swapped) in self.guarded:
            return
        expected = spec.hostname_for(swapped)
        seen = host.probe(["hostname"]).stdout.strip()
        if seen != expected and seen.split(".")[0] != expected:
            raise RemoteError(
                f"{task_name}: the machine at {host.address} says it is {seen!r}, but hosts.{spec.alias} expects "
                f"{expected!r}{' (after the swap)' if swapped else ''}; wrong address, or the journal's swap state is stale"
            )
        self.guarded.add((spec.alias, swapped))

    # -- asking the operator ------------------------------------------
    def confirm(self, question: str) -> bool:
        if self.assume_yes:
            print(f"{question} [y/N] y (--yes)", file=self.out, flush=True)
            return True
        try:
            answer = input(f"{question} [y/N] ")
        except (EOFError, OSError):
            print(f"{question} [y/N] no answer (no terminal); pass --yes to agree in a scripted run", file=self.out, flush=True)
            return False
        return answer.strip().lower() in ("y", "yes")


_current: Session | None = None


def current(config=None, *, reset: bool = False) -> Session:
    """The session of this process, built from $SERVERSWAP_HOSTS on first use."""
    global _current
    dry = bool(config is not None and config.run.dry)
    if _current is None or reset:
        try:
            loaded = settings_mod.load()
        except settings_mod.SettingsError as exc:
            from invoke.exceptions import Exit

            raise Exit(f"hosts file unusable, nothing was done:\n{exc}") from None
        _current = Session(loaded, dry=dry, config=config)
    elif dry and not _current.dry:
        _current.dry = True
        for host in _current.hosts.values():
            host.dry = True
    return _current


def set_current(session: Session | None) -> None:
    global _current
    _current = session
