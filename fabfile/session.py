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
from .journal import Journal
from .remote import Host, RemoteError, synced


class HostKeyError(RemoteError):
    pass


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


def fingerprint(key) -> str:
    """A paramiko key's SHA256 fingerprint, as ssh-keygen -l prints it."""
    return blob_fingerprint(key.get_base64())


class Session:
    def __init__(self, settings, *, dry: bool = False, out=None, config=None, assume_yes: bool | None = None):
        self.settings = settings
        self.dry = dry
        self.out = synced(out or sys.stdout)
        self.config = config
        self.journal = Journal(settings["operator"]["journal"])
        self.hosts: dict[str, Host] = {}
        self.guarded: set[tuple[str, bool]] = set()
        env_yes = os.environ.get("SERVERSWAP_YES", "") not in ("", "0", "no")
        self.assume_yes = env_yes if assume_yes is None else assume_yes
        self.connections_opened = 0
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

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
            cxn = self.connect(spec, spec.address_for(swapped))
            self.hosts[alias] = Host(
                spec, cxn, dry=self.dry, journal=self.journal, out=self.out,
                backup_dir=self.settings["operator"]["remote_backup_dir"],
            )
        return self.hosts[alias]

    def connect(self, spec, address: str, *, timeout: int | None = None) -> Connection:
        operator = self.settings["operator"]
        timeout = timeout or operator["connect_timeout"]
        connect_kwargs = {"allow_agent": False, "look_for_keys": spec.key is None, "banner_timeout": timeout, "auth_timeout": timeout}
        if spec.key:
            connect_kwargs["key_filename"] = [spec.key]
        kwargs = dict(host=address, user=spec.user, port=spec.port, connect_timeout=timeout, connect_kwargs=connect_kwargs)
        if self.config is not None:
            kwargs["config"] = self.config
        cxn = Connection(**kwargs)
        known = operator["known_hosts"]
        if os.path.exists(known):
            cxn.client.load_host_keys(known)
        if operator["accept_new_host_keys"]:
            cxn.client.set_missing_host_key_policy(AcceptNewPolicy(known))
        else:
            cxn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
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
        self.connections_opened += 1
        return cxn

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
        seen = host.probe("hostname", warn=False).stdout.strip()
        if seen != expected and seen.split(".")[0] != expected:
            raise RemoteError(
                f"{task_name}: the machine at {host.c.host} says it is {seen!r}, but hosts.{spec.alias} expects "
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
