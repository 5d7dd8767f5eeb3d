"""File work on one host: read, stat, back up, write atomically, edit, install.

The edit contract, modelled on Ansible's `atomic_move` + `lineinfile`:
read, transform with a pure function, show a diff (names only for secret
files), back up (never over another backup), write a temp file in the same
directory with the original owner/group/mode, validate the temp file,
check that nobody changed the original meanwhile, rename atomically. No
change needed: no write, no backup, "unchanged". In a dry run the diff is
shown and nothing is written. Every change is journalled with its backup
and the sha256 before and after.

Over SFTP (one channel per thread); commands (validation) through the
host's Runner as argv lists; owners by name through the host's cached facts.
"""

from __future__ import annotations

import hashlib
import stat as stat_mod
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from . import faults
from .commands import first_line, shown
from .edit.diff import secret_changes, show_change, unified
from .errors import RemoteError, ValidationFailed

ENCODING = "utf-8"
TEMP = "{temp}"  # in a `validate` argv: replaced by the temp file's path


@dataclass
class EditResult:
    path: str
    changed: bool
    backup: str | None = None
    diff: str = ""
    dry: bool = False
    sha256_before: str | None = None
    sha256_after: str | None = None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stamp() -> str:
    """UTC time to the microsecond: two backups of one file in one second get two names."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")


class Files:
    """The file half of a Host (see the module doc); `host` gives say/record, runner and facts."""

    def __init__(self, host, backup_dir: str = ""):
        self.host = host
        self.backup_dir = backup_dir
        self._sftps: dict[int, object] = {}
        self._lock = threading.Lock()
        self._backup_dir_ready = False

    @property
    def sftp(self):
        """This thread's SFTP channel (the first thread's is Fabric's cached one)."""
        key = threading.get_ident()
        client = self._sftps.get(key)
        if client is None:
            with self._lock:
                try:
                    c = self.host.connection
                    client = c.sftp() if not self._sftps else c.client.open_sftp()
                except Exception as exc:  # noqa: BLE001 - paramiko raises several kinds here
                    raise RemoteError(f"{self.host.alias}: cannot open SFTP ({exc.__class__.__name__}: {exc}); run the task again") from None
                self._sftps[key] = client
        return client

    def close(self) -> None:
        for client in list(self._sftps.values()):
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a dead channel
                pass
        self._sftps.clear()

    # -- reading ---------------------------------------------------------
    def exists(self, path: str) -> bool:
        try:
            self.sftp.lstat(path)
            return True
        except FileNotFoundError:
            return False

    def stat(self, path: str):
        return self.sftp.stat(path)

    def listdir(self, directory: str, *, attrs: bool = False) -> list:
        """The entries of a directory (names, or SFTP attributes with `attrs`), sorted by name; [] if it is missing."""
        try:
            entries = self.sftp.listdir_attr(directory) if attrs else self.sftp.listdir(directory)
        except FileNotFoundError:
            return []
        return sorted(entries, key=lambda e: e.filename if attrs else e)

    def glob(self, pattern: str) -> list[str]:
        """The paths glob(3) gives for an absolute pattern on the host (as sshd's Include finds files), byte-sorted."""
        from .edit.sshd import glob_paths

        parts = pattern.strip("/").split("/")
        found = ["/"]
        for depth, part in enumerate(parts):
            magic = any(ch in part for ch in "*?[")
            level = []
            for base in found:
                prefix = base.rstrip("/") + "/"
                names = self.listdir(base) if magic else ([part] if self.exists(prefix + part) else [])
                level += [prefix + name for name in names]
            found = level if not magic else glob_paths("/" + "/".join(parts[:depth + 1]), level)
        return sorted(found, key=lambda p: p.encode("utf-8", "surrogateescape"))

    def read_bytes(self, path: str) -> bytes:
        alias = self.host.alias
        try:
            with self.sftp.open(path, "rb") as fh:
                fh.prefetch()
                return fh.read()
        except FileNotFoundError:
            raise RemoteError(f"{alias}: {path} does not exist; check the path in hosts.toml") from None
        except PermissionError:
            raise RemoteError(f"{alias}: {path} is not readable as {self.host.spec.user}; connect as root") from None

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode(ENCODING, "surrogateescape")

    def read_lines(self, path: str):
        """The lines of a (possibly huge) file as bytes, streamed (bounded memory); also in a dry run."""
        return self.host.runner.stream(["cat", "--", path])

    def owner_of(self, path: str, st=None) -> str:
        """"user:group" of `path`: SFTP stat + the host's cached id tables (no exec per file)."""
        st = st or self.sftp.stat(path)
        facts = self.host.facts
        return f"{facts.name_of('user', st.st_uid)}:{facts.name_of('group', st.st_gid)}"

    # -- backups and atomic writes --------------------------------------
    def _backup_base(self, path: str) -> str:
        suffix = f".serverswap-{stamp()}"
        if not self.backup_dir:
            return f"{path}{suffix}"
        if not self._backup_dir_ready:
            self.host.runner.run(["mkdir", "-p", "-m", "700", "--", self.backup_dir])
            self.sftp.chmod(self.backup_dir, 0o700)
            self._backup_dir_ready = True
        return f"{self.backup_dir.rstrip('/')}/{path.strip('/').replace('/', '%')}{suffix}"

    def _create_exclusive(self, base: str):
        """Open a new file at `base` (or `base.1`, `.2` ... if taken): a backup never replaces another."""
        for count in range(100):
            target = base if count == 0 else f"{base}.{count}"
            try:
                return target, self.sftp.open(target, "wxb")  # O_CREAT|O_EXCL: never over an existing file
            except OSError:
                if not self.exists(target):
                    raise
        raise RemoteError(f"{self.host.alias}: 100 backups of {base} already; clean up old ones")

    def backup(self, path: str, *, data: bytes | None = None, st=None) -> str:
        """Copy `path` aside with owner, mode and times (as cp -a); return the copy's path.

        From `data` when the caller has just read the file (with its stat
        `st`), else read here. The copy is 0600 before its first byte (it may
        be a secret), then gets the original's owner, mode and times.
        """
        if data is None:
            data = self.read_bytes(path)
        st = st or self.sftp.stat(path)
        target, fh = self._create_exclusive(self._backup_base(path))
        with fh:
            fh.chmod(0o600)
            fh.set_pipelined(True)
            fh.write(data)
        self.sftp.chown(target, st.st_uid, st.st_gid)
        self.sftp.chmod(target, stat_mod.S_IMODE(st.st_mode))
        self.sftp.utime(target, (st.st_atime, st.st_mtime))
        return target

    def _validate(self, path: str, tmp: str, validate) -> None:
        argv = [tmp if a == TEMP else a for a in validate]
        result = self.host.runner.run(argv)
        if not result.ok:
            raise ValidationFailed(f"{self.host.alias}: the new {path} fails `{shown(argv)}` ({first_line(result)}); nothing was installed")

    def _target_ids(self, path: str, like: str | None, st, mode, owner) -> tuple[int, int, int]:
        try:
            st = st if st is not None and like is None else self.sftp.stat(like or path)
            file_mode, uid, gid = stat_mod.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        except FileNotFoundError:
            file_mode, uid, gid = 0o644, 0, 0
        if owner:
            uid, gid = self.host.facts.ids_of(owner)
        return (file_mode if mode is None else mode), uid, gid

    def write_atomic(self, path: str, data: bytes, *, like: str | None = None, validate=None, mode: int | None = None,
                     owner: str | None = None, st=None, expect=None) -> None:
        """Temp file beside `path` (owner/group/mode of `like`, default path), validate, rename.

        `validate`: an argv with TEMP for the temp file. `expect` = (stat,
        bytes, monotonic time of that stat): just before the rename, refuse
        if `path` changed since it was read (see _unchanged).
        """
        directory, _, name = path.rpartition("/")
        tmp = f"{directory}/.{name}.serverswap-tmp"
        file_mode, uid, gid = self._target_ids(path, like, st, mode, owner)
        renamed = False
        try:
            with self.sftp.open(tmp, "wb") as fh:
                fh.chmod(0o600)  # before any byte is written: the content may be a secret
                fh.set_pipelined(True)
                fh.write(data)
            self.sftp.chown(tmp, uid, gid)
            self.sftp.chmod(tmp, file_mode)
            if validate:
                self._validate(path, tmp, validate)
            if expect is not None and not self._unchanged(path, tmp, *expect):
                raise RemoteError(f"{self.host.alias}: {path} changed while it was being edited; nothing was installed; run the task again")
            self.sftp.posix_rename(tmp, path)
            renamed = True
        finally:
            if not renamed:
                try:
                    self.sftp.remove(tmp)
                except OSError:
                    pass

    def _unchanged(self, path: str, tmp: str, before_st, before_bytes: bytes, read_at: float) -> bool:
        """Nobody changed `path` since it was read (at monotonic `read_at`, stat `before_st`).

        Size or mtime differ: changed. Same: unchanged if the mtime is older
        than the read by more than SFTP's one-second resolution (the host's
        clock now is our fresh temp file's mtime minus the time elapsed);
        else (written in the second we read it) read again and compare.
        """
        now_st = self.sftp.stat(path)
        if (now_st.st_size, now_st.st_mtime) != (before_st.st_size, before_st.st_mtime):
            return False
        host_clock_at_read = self.sftp.stat(tmp).st_mtime - (time.monotonic() - read_at) - 1
        if before_st.st_mtime is not None and before_st.st_mtime + 1 < host_clock_at_read:
            return True
        return self.read_bytes(path) == before_bytes

    # -- the edit contract -------------------------------------------------
    def _shown(self, path: str, before: str, after: str, secret: bool | None) -> str:
        if secret is None:
            return show_change(path, before, after)
        return "\n".join(secret_changes(path, before, after)) if secret else unified(path, before, after)

    def edit(self, path: str, transform: Callable[[str], str], *, validate=None, backup: bool = True, secret: bool | None = None) -> EditResult:
        """Read, transform (pure), diff, back up, write temp, validate, rename (see the module doc).

        `validate` is an argv with TEMP for the temp file, or a callable giving
        one once the transform has run (when it depends on the content, e.g.
        a zone's name for named-checkzone).
        """
        host = self.host
        read_at = time.monotonic()
        try:
            before_st = self.sftp.stat(path)
        except FileNotFoundError:
            raise RemoteError(f"{host.alias}: {path} does not exist; check the path in hosts.toml") from None
        before_bytes = self.read_bytes(path)
        before = before_bytes.decode(ENCODING, "surrogateescape")
        after = transform(before)
        if after == before:
            host.say(f"{path}: unchanged")
            host.record("unchanged", path=path, sha256_before=sha256(before_bytes))
            return EditResult(path, changed=False, dry=host.dry, sha256_before=sha256(before_bytes), sha256_after=sha256(before_bytes))
        shown_diff = self._shown(path, before, after, secret)
        host.say(f"{path}: {'would change' if host.dry else 'changing'}\n{shown_diff.rstrip()}")
        after_bytes = after.encode(ENCODING, "surrogateescape")
        if host.dry:
            return EditResult(path, changed=True, diff=shown_diff, dry=True, sha256_before=sha256(before_bytes), sha256_after=sha256(after_bytes))
        if callable(validate):
            validate = validate()
        saved = self.backup(path, data=before_bytes, st=before_st) if backup else None
        if host.tx:  # before the rename: a crash from here on leaves the journal knowing where the original is
            host.record("prepare", path=path, backup=saved, sha256_before=sha256(before_bytes), sha256_after=sha256(after_bytes))
        faults.point("prepare", path)
        self.write_atomic(path, after_bytes, validate=validate, st=before_st, expect=(before_st, before_bytes, read_at))
        faults.point("renamed", path)
        host.record("change", path=path, backup=saved, sha256_before=sha256(before_bytes), sha256_after=sha256(after_bytes))
        if saved:
            host.say(f"{path}: changed (backup {saved})")
        return EditResult(path, changed=True, backup=saved, diff=shown_diff, sha256_before=sha256(before_bytes), sha256_after=sha256(after_bytes))

    def put_bytes(self, path: str, data: bytes, *, mode: int, owner: str, validate=None) -> EditResult:
        """Install `data` at `path` (new or replaced) with the given owner ("user:group") and mode."""
        host = self.host
        try:
            current = self.sftp.stat(path)
        except FileNotFoundError:
            current = None
        before = self.read_bytes(path) if current is not None else None
        digest_before = sha256(before) if before is not None else None
        if before == data and stat_mod.S_IMODE(current.st_mode) == mode and self.owner_of(path, current) == owner:
            host.say(f"{path}: unchanged")
            host.record("unchanged", path=path, sha256_before=sha256(data))
            return EditResult(path, changed=False, dry=host.dry, sha256_before=digest_before, sha256_after=digest_before)
        host.say(f"{path}: {'would install' if host.dry else 'installing'} {len(data)} bytes, {owner} {mode:04o} (sha256 {sha256(data)[:12]}…)")
        if host.dry:
            return EditResult(path, changed=True, dry=True, sha256_before=digest_before, sha256_after=sha256(data))
        saved = self.backup(path, data=before, st=current) if current is not None else None
        self.write_atomic(path, data, validate=validate, mode=mode, owner=owner, st=current)
        host.record("change", path=path, backup=saved, sha256_before=digest_before, sha256_after=sha256(data))
        return EditResult(path, changed=True, backup=saved, sha256_before=digest_before, sha256_after=sha256(data))

    def restore(self, path: str, backup: str) -> None:
        """Put `path` back from its backup: a copy beside it, then an atomic rename (the backup stays)."""
        data = self.read_bytes(backup)
        self.write_atomic(path, data, like=backup)
        self.host.record("change", path=path, backup=backup, sha256_after=sha256(data), detail=f"restored from {backup}")
