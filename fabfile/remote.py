"""The host layer: the one place where serverswap touches a machine.

Every task goes through `Host`. Its contract, modelled on Ansible's
`atomic_move` + `lineinfile`:

* probes (reads) run for real, also in a dry run, so a dry run shows what
  would change against the host as it is now;
* changes run only when not dry; in a dry run they are printed instead;
* a file edit reads, transforms with a pure function, shows a diff (names
  only for secret files), backs up, writes a temp file in the same directory
  with the original owner/group/mode, validates the temp file, checks that
  nobody changed the original meanwhile, and renames atomically;
* no change needed: no write, no backup, "unchanged";
* every change goes to the journal with its backup and sha256 before/after.
"""

from __future__ import annotations

import hashlib
import shlex
import stat
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from .edit.diff import secret_changes, show_change, unified

ENCODING = "utf-8"


class RemoteError(RuntimeError):
    """A host refused or failed an operation; str() is one line with the fix."""


class ValidationFailed(RemoteError):
    pass


@dataclass
class EditResult:
    path: str
    changed: bool
    backup: str | None = None
    diff: str = ""
    dry: bool = False


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def q(value: str) -> str:
    return shlex.quote(str(value))


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")


class LineWriter:
    """A thread-safe text stream: each thread's output reaches `target` in whole lines.

    Steps of old and new run concurrently (steps.run_parallel); without this,
    two `print`s could interleave inside a line. Each line is prefixed by its
    host already ("[old] ..."), so whole lines are enough to read the output.
    """

    _lock = threading.Lock()  # one for the process: several writers may share a terminal

    def __init__(self, target):
        self.target = target
        self._local = threading.local()

    def write(self, data: str) -> int:
        buffered = getattr(self._local, "partial", "") + data
        head, newline, rest = buffered.rpartition("\n")
        self._local.partial = rest
        if newline:
            with self._lock:
                self.target.write(head + newline)
        return len(data)

    def flush(self) -> None:
        partial = getattr(self._local, "partial", "")
        with self._lock:
            if partial:
                self.target.write(partial)
                self._local.partial = ""
            self.target.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.target, "isatty", lambda: False)())

    def __getattr__(self, name):
        return getattr(self.target, name)


def synced(out):
    return out if isinstance(out, LineWriter) else LineWriter(out)


class Host:
    """A host of hosts.toml reached over one reused SSH connection.

    Safe to use from several threads (steps.run_parallel): the SSH transport
    multiplexes channels; each thread gets its own SFTP channel and its own
    task/step labels for the journal.
    """

    def __init__(self, spec, connection, *, dry: bool, journal=None, out=None, backup_dir: str = ""):
        self.spec = spec
        self.alias = spec.alias
        self.c = connection
        self.dry = dry
        self.journal = journal
        self.out = out or sys.stdout
        self.backup_dir = backup_dir
        self._local = threading.local()
        self._sftps: dict[int, object] = {}
        self._lock = threading.Lock()
        self._ids = None  # (uid -> user, gid -> group, user -> primary gid), see _id_tables
        self._backup_dir_ready = False

    # the step this thread works for (journal labels), per thread
    @property
    def task(self):
        return getattr(self._local, "task", None)

    @task.setter
    def task(self, value):
        self._local.task = value

    @property
    def step(self):
        return getattr(self._local, "step", None)

    @step.setter
    def step(self, value):
        self._local.step = value

    # -- output and journal -------------------------------------------
    def say(self, message: str) -> None:
        print(f"[{self.alias}] {message}", file=self.out, flush=True)

    def record(self, event: str, **fields) -> None:
        if self.journal is not None:
            self.journal.write(event, host=self.alias, task=self.task, step=self.step, **fields)

    # -- commands -----------------------------------------------------
    def probe(self, command: str, *, warn: bool = True, timeout: int | None = None):
        """Run a read-only command for real, even in a dry run."""
        return self.c.run(command, hide=True, warn=warn, dry=False, in_stream=False, timeout=timeout)

    def check(self, command: str) -> bool:
        return self.probe(command).ok

    def change(self, command: str, *, what: str | None = None, hide: bool = False, timeout: int | None = None, warn: bool = False):
        """Run a command that changes the host; in a dry run only say it."""
        if self.dry:
            self.say(f"dry run: would run: {what or command}")
            return None
        result = self.c.run(command, hide=hide, warn=warn, dry=False, in_stream=False, timeout=timeout)
        self.record("change", detail=what or command)
        return result

    # -- files --------------------------------------------------------
    @property
    def sftp(self):
        """This thread's SFTP channel (the first thread's is Fabric's cached one)."""
        key = threading.get_ident()
        client = self._sftps.get(key)
        if client is None:
            with self._lock:
                client = self.c.sftp() if not self._sftps else self.c.client.open_sftp()
                self._sftps[key] = client
        return client

    def exists(self, path: str) -> bool:
        try:
            self.sftp.lstat(path)
            return True
        except FileNotFoundError:
            return False

    def read_bytes(self, path: str) -> bytes:
        try:
            with self.sftp.open(path, "rb") as fh:
                fh.prefetch()
                return fh.read()
        except FileNotFoundError:
            raise RemoteError(f"{self.alias}: {path} does not exist; check the path in hosts.toml") from None
        except PermissionError:
            raise RemoteError(f"{self.alias}: {path} is not readable as {self.spec.user}; connect as root") from None

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode(ENCODING, "surrogateescape")

    def read_lines(self, path: str):
        """Yield the lines of a (possibly huge) remote file as bytes, with bounded memory.

        An exec channel `cat FILE` read line by line: SSH flow control (the
        channel window) bounds what is buffered, whatever the file's size.
        Also in a dry run (a read). Raises RemoteError if `cat` fails.
        """
        channel = self.c.client.get_transport().open_session()
        try:
            channel.exec_command(f"cat -- {q(path)}")
            with channel.makefile("rb") as fh:
                yield from fh
            status = channel.recv_exit_status()
            if status != 0:
                error = channel.makefile_stderr("rb").read().decode(ENCODING, "replace").strip()
                raise RemoteError(f"{self.alias}: cannot read {path} ({error or 'exit ' + str(status)}); check the path in hosts.toml")
        finally:
            channel.close()

    def stat(self, path: str):
        return self.sftp.stat(path)

    # -- owners by name (one lookup per host, cached) ------------------
    def _id_tables(self, refresh: bool = False) -> tuple[dict, dict, dict]:
        """uid -> user, gid -> group, user -> primary gid of this host: one `getent` exec, cached, refreshed on a miss."""
        if refresh or self._ids is None:
            out = self.probe("getent passwd; echo ::group::; getent group", warn=False).stdout
            users, _, groups = out.partition("::group::")
            by_uid, by_gid, primary = {}, {}, {}
            for line in users.splitlines():
                fields = line.split(":")
                if len(fields) >= 4 and fields[2].isdigit():
                    by_uid.setdefault(int(fields[2]), fields[0])
                    if fields[3].isdigit():
                        primary.setdefault(fields[0], int(fields[3]))
            for line in groups.splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[2].isdigit():
                    by_gid.setdefault(int(fields[2]), fields[0])
            self._ids = (by_uid, by_gid, primary)
        return self._ids

    def _name_of(self, kind: int, number: int) -> str:
        for refresh in (False, True):
            name = self._id_tables(refresh)[kind].get(number)
            if name is not None:
                return name
        return str(number)

    def _number_of(self, kind: int, name: str) -> int:
        if name.isdigit():
            return int(name)
        for refresh in (False, True):
            for number, known in self._id_tables(refresh)[kind].items():
                if known == name:
                    return number
        raise RemoteError(f"{self.alias}: no {'user' if kind == 0 else 'group'} {name!r} here; create it (or fix the owner in hosts.toml) first")

    def _owner_of(self, path: str, st=None) -> str:
        """"user:group" of `path`: SFTP stat + the cached name tables (no exec per file)."""
        st = st or self.sftp.stat(path)
        return f"{self._name_of(0, st.st_uid)}:{self._name_of(1, st.st_gid)}"

    def _ids_of(self, owner: str) -> tuple[int, int]:
        """(uid, gid) of "user:group" ("user" alone: the user's primary group), as chown would."""
        user, _, group = owner.partition(":")
        uid = self._number_of(0, user)
        if group:
            return uid, self._number_of(1, group)
        for refresh in (False, True):
            gid = self._id_tables(refresh)[2].get(user)
            if gid is not None:
                return uid, gid
        raise RemoteError(f"{self.alias}: no primary group known for {user!r}; give the owner as user:group")

    # -- backups and atomic writes --------------------------------------
    def _backup_target(self, path: str, suffix: str | None) -> str:
        suffix = suffix or f".serverswap-{stamp()}"
        if not self.backup_dir:
            return f"{path}{suffix}"
        if not self._backup_dir_ready:
            try:
                self.sftp.mkdir(self.backup_dir, 0o700)
            except OSError:
                self.probe(f"mkdir -p {q(self.backup_dir)}", warn=False)
            self.sftp.chmod(self.backup_dir, 0o700)
            self._backup_dir_ready = True
        return f"{self.backup_dir.rstrip('/')}/{path.strip('/').replace('/', '%')}{suffix}"

    def backup(self, path: str, suffix: str | None = None, *, data: bytes | None = None, st=None) -> str:
        """Copy `path` aside with owner, mode and times (as cp -a); return the copy's path.

        Over SFTP: from `data` when the caller has just read the file (with its
        stat `st`), else read here. The copy is written 0600 before its first
        byte (it may be a secret), then given the original's owner, mode, times.
        """
        target = self._backup_target(path, suffix)
        if data is None:
            data = self.read_bytes(path)
        st = st or self.sftp.stat(path)
        with self.sftp.open(target, "wb") as fh:
            fh.chmod(0o600)
            fh.set_pipelined(True)
            fh.write(data)
        self.sftp.chown(target, st.st_uid, st.st_gid)
        self.sftp.chmod(target, stat.S_IMODE(st.st_mode))
        self.sftp.utime(target, (st.st_atime, st.st_mtime))
        return target

    def write_atomic(self, path: str, data: bytes, *, like: str | None = None, validate: str | None = None, mode: int | None = None, owner: str | None = None, st=None, expect=None) -> None:
        """Temp file beside `path`, owner/group/mode of `like` (default: path), validate, rename.

        The temp file lives in the same directory so the rename is atomic on
        one file system; it is removed whatever happens before the rename.
        `st`: the stat of `like`/path the caller already has (saves a round trip).
        `expect` = (stat, bytes, monotonic time of that stat): just before the
        rename, refuse if `path` changed since it was read (see _unchanged).
        """
        directory, _, name = path.rpartition("/")
        tmp = f"{directory}/.{name}.serverswap-tmp"
        reference = like or path
        try:
            st = st if st is not None and like is None else self.sftp.stat(reference)
            file_mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        except FileNotFoundError:
            file_mode, uid, gid = 0o644, 0, 0
        if mode is not None:
            file_mode = mode
        if owner:
            uid, gid = self._ids_of(owner)
        renamed = False
        try:
            with self.sftp.open(tmp, "wb") as fh:
                fh.chmod(0o600)  # before any byte is written: the content may be a secret
                fh.set_pipelined(True)
                fh.write(data)
            self.sftp.chown(tmp, uid, gid)
            self.sftp.chmod(tmp, file_mode)
            if validate:
                result = self.c.run(validate.format(q(tmp)), hide=True, warn=True, in_stream=False, dry=False)
                if not result.ok:
                    first = (result.stderr or result.stdout).strip().splitlines()[:1]
                    raise ValidationFailed(
                        f"{self.alias}: the new {path} fails `{validate.format(tmp)}`"
                        f" ({first[0] if first else 'exit ' + str(result.exited)}); nothing was installed"
                    )
            if expect is not None and not self._unchanged(path, tmp, *expect):
                raise RemoteError(f"{self.alias}: {path} changed while it was being edited; nothing was installed; run the task again")
            self.sftp.posix_rename(tmp, path)
            renamed = True
        finally:
            if not renamed:
                try:
                    self.sftp.remove(tmp)
                except (FileNotFoundError, OSError):
                    pass

    def _unchanged(self, path: str, tmp: str, before_st, before_bytes: bytes, read_at: float) -> bool:
        """Nobody changed `path` since it was read (at monotonic time `read_at`, stat `before_st`).

        Size or mtime differ: changed. Same: unchanged, if the mtime is older
        than the read by more than the one-second resolution of SFTP times
        (the host's clock now is the mtime of our temp file, just written,
        minus the time elapsed since the read); otherwise (a file written in
        the second we read it) the file is read again and compared.
        """
        now_st = self.sftp.stat(path)
        if (now_st.st_size, now_st.st_mtime) != (before_st.st_size, before_st.st_mtime):
            return False
        host_clock_at_read = self.sftp.stat(tmp).st_mtime - (time.monotonic() - read_at) - 1
        if before_st.st_mtime is not None and before_st.st_mtime + 1 < host_clock_at_read:
            return True
        return self.read_bytes(path) == before_bytes

    def edit(self, path: str, transform: Callable[[str], str], *, validate: str | Callable[[], str] | None = None, backup: bool = True, secret: bool | None = None) -> EditResult:
        """Read, transform (pure), diff, back up, write temp, validate, rename.

        `validate` is a command with `{}` for the temp file, or a callable giving
        one once the transform has run (when the command depends on the content,
        e.g. a zone's name for named-checkzone).
        """
        read_at = time.monotonic()
        try:
            before_st = self.sftp.stat(path)
        except FileNotFoundError:
            before_st = None
        before_bytes = self.read_bytes(path)
        before = before_bytes.decode(ENCODING, "surrogateescape")
        after = transform(before)
        if after == before:
            self.say(f"{path}: unchanged")
            self.record("unchanged", path=path, sha256_before=sha256(before_bytes))
            return EditResult(path, changed=False, dry=self.dry)
        if secret is None:
            shown = show_change(path, before, after)
        else:
            shown = "\n".join(secret_changes(path, before, after)) if secret else unified(path, before, after)
        self.say(f"{path}: {'would change' if self.dry else 'changing'}\n{shown.rstrip()}")
        if self.dry:
            return EditResult(path, changed=True, diff=shown, dry=True)
        after_bytes = after.encode(ENCODING, "surrogateescape")
        if callable(validate):
            validate = validate()
        saved = self.backup(path, data=before_bytes, st=before_st) if backup else None
        self.write_atomic(path, after_bytes, validate=validate, st=before_st, expect=(before_st, before_bytes, read_at))
        self.record("change", path=path, backup=saved, sha256_before=sha256(before_bytes), sha256_after=sha256(after_bytes))
        if saved:
            self.say(f"{path}: changed (backup {saved})")
        return EditResult(path, changed=True, backup=saved, diff=shown)

    def put_bytes(self, path: str, data: bytes, *, mode: int, owner: str, validate: str | None = None, like: str | None = None) -> EditResult:
        """Install `data` at `path` (new or replaced) with the given owner ("user:group") and mode."""
        try:
            current = self.sftp.stat(path)
        except FileNotFoundError:
            current = None
        before = self.read_bytes(path) if current is not None else None
        if before == data and stat.S_IMODE(current.st_mode) == mode and self._owner_of(path, current) == owner:
            self.say(f"{path}: unchanged")
            self.record("unchanged", path=path, sha256_before=sha256(data))
            return EditResult(path, changed=False, dry=self.dry)
        self.say(f"{path}: {'would install' if self.dry else 'installing'} {len(data)} bytes, {owner} {mode:04o} (sha256 {sha256(data)[:12]}…)")
        if self.dry:
            return EditResult(path, changed=True, dry=True)
        saved = self.backup(path, data=before, st=current) if current is not None else None
        self.write_atomic(path, data, validate=validate, mode=mode, owner=owner, st=current)
        self.record("change", path=path, backup=saved, sha256_before=sha256(before) if before is not None else None, sha256_after=sha256(data))
        return EditResult(path, changed=True, backup=saved)

    def close(self) -> None:
        for client in list(self._sftps.values()):
            try:
                client.close()
            except Exception:
                pass
        self._sftps.clear()
        self.c.close()


def copy_file(source: Host, target: Host, path: str, *, target_path: str | None = None, owner: str | None = None, mode: int | None = None) -> EditResult:
    """Copy one file between two hosts through the operator, keeping mode and owner.

    Owner is carried by name (user:group), not by number: UIDs differ between
    machines, and names are what C2/C7 mean by "the same owner".
    """
    target_path = target_path or path
    data = source.read_bytes(path)
    st = source.stat(path)
    owner = owner or source._owner_of(path)
    mode = stat.S_IMODE(st.st_mode) if mode is None else mode
    return target.put_bytes(target_path, data, mode=mode, owner=owner)

