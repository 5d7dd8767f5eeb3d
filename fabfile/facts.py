"""Facts about one host, read once and cached, the way pyinfra's `host.get_fact` does.

A fact is a read-only answer the host gives (its users and groups, its
init system, a unit's real name and state, sshd's effective settings for a
connection). Steps ask the facts instead of running the same probe again
or hanging attributes on the host; a step that changes what a fact
describes `forget`s it, so the next question reads the host again.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


class Facts:
    def __init__(self, host):
        self.host = host
        self._cache: dict[Any, Any] = {}
        self._lock = threading.RLock()

    def get(self, name, read: Callable[[], Any]):
        """The cached value of fact `name`, read (once) with `read()`."""
        with self._lock:
            if name not in self._cache:
                self._cache[name] = read()
            return self._cache[name]

    def forget(self, *names) -> None:
        """Drop cached facts (all of them without names), after a change they describe."""
        with self._lock:
            if not names:
                self._cache.clear()
            for name in names:
                self._cache.pop(name, None)

    # -- init system -------------------------------------------------------
    @property
    def init_system(self) -> str:
        """"systemd" when systemd runs as PID 1 (sd_booted()'s test), else "sysvinit"."""
        return self.get("init", lambda: "systemd" if self.host.check(["test", "-d", "/run/systemd/system"]) else "sysvinit")

    # -- users and groups ---------------------------------------------------
    def _read_ids(self) -> dict[str, dict]:
        out = self.host.probe(["sh", "-c", "getent passwd; echo ::group::; getent group"]).stdout
        users, _, groups = out.partition("::group::")
        tables = {"user": {}, "group": {}, "primary": {}}
        for line in users.splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[2].isdigit():
                tables["user"].setdefault(int(fields[2]), fields[0])
                if fields[3].isdigit():
                    tables["primary"].setdefault(fields[0], int(fields[3]))
        for line in groups.splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and fields[2].isdigit():
                tables["group"].setdefault(int(fields[2]), fields[0])
        return tables

    def ids(self, refresh: bool = False) -> dict[str, dict]:
        """{"user": uid -> name, "group": gid -> name, "primary": user -> gid}: one `getent` exec, cached."""
        if refresh:
            self.forget("ids")
        return self.get("ids", self._read_ids)

    def name_of(self, kind: str, number: int) -> str:
        for refresh in (False, True):
            name = self.ids(refresh)[kind].get(number)
            if name is not None:
                return name
        return str(number)

    def number_of(self, kind: str, name: str) -> int | None:
        if name.isdigit():
            return int(name)
        for refresh in (False, True):
            for number, known in self.ids(refresh)[kind].items():
                if known == name:
                    return number
        return None

    def ids_of(self, owner: str) -> tuple[int, int]:
        """(uid, gid) of "user:group" ("user" alone: the user's primary group), as chown would."""
        from .errors import RemoteError

        user, _, group = owner.partition(":")
        uid = self.number_of("user", user)
        if uid is None:
            raise RemoteError(f"{self.host.alias}: no user {user!r} here; create it (or fix the owner in hosts.toml) first")
        if group:
            gid = self.number_of("group", group)
            if gid is None:
                raise RemoteError(f"{self.host.alias}: no group {group!r} here; create it (or fix the owner in hosts.toml) first")
            return uid, gid
        for refresh in (False, True):
            gid = self.ids(refresh)["primary"].get(user)
            if gid is not None:
                return uid, gid
        raise RemoteError(f"{self.host.alias}: no primary group known for {user!r}; give the owner as user:group")
