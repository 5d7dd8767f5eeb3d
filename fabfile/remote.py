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


class Host:
    """A host of hosts.toml reached over one reused SSH connection."""

    def __init__(self, spec, connection, *, dry: bool, journal=None, out=None, backup_dir: str = ""):
        self.spec = spec
        self.alias = spec.alias
        self.c = connection
        self.dry = dry
        self.journal = journal
        self.out = out or sys.stdout
        self.backup_dir = backup_dir
        self.task = None
        self.step = None
        self._sftp = None

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
        if self._sftp is None:
            self._sftp = self.c.sftp()
        return self._sftp

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

    def backup(self, path: str, suffix: str | None = None) -> str:
        """Copy `path` aside with owner, mode and times (cp -a); return the copy's path."""
        suffix = suffix or f".serverswap-{stamp()}"
        if self.backup_dir:
            target = f"{self.backup_dir.rstrip('/')}/{path.strip('/').replace('/', '%')}{suffix}"
            self.probe(f"mkdir -p {q(self.backup_dir)} && chmod 700 {q(self.backup_dir)}", warn=False)
        else:
            target = f"{path}{suffix}"
        self.c.run(f"cp -a -- {q(path)} {q(target)}", hide=True, in_stream=False, dry=False)
        return target

    def write_atomic(self, path: str, data: bytes, *, like: str | None = None, validate: str | None = None, mode: int | None = None, owner: str | None = None) -> None:
        """Temp file beside `path`, owner/group/mode of `like` (default: path), validate, rename.

        The temp file lives in the same directory so the rename is atomic on
        one file system; it is removed whatever happens before the rename.
        """
        directory, _, name = path.rpartition("/")
        tmp = f"{directory}/.{name}.serverswap-tmp"
        reference = like or path
        try:
            st = self.sftp.stat(reference)
            file_mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        except FileNotFoundError:
            file_mode, uid, gid = 0o644, 0, 0
        if mode is not None:
            file_mode = mode
        try:
            with self.sftp.open(tmp, "wb") as fh:
                fh.chmod(0o600)  # before any byte is written: the content may be a secret
                fh.set_pipelined(True)
                fh.write(data)
            self.sftp.chown(tmp, uid, gid)
            if owner:
                self.c.run(f"chown {q(owner)} {q(tmp)}", hide=True, in_stream=False, dry=False)
            self.sftp.chmod(tmp, file_mode)
            if validate:
                result = self.c.run(validate.format(q(tmp)), hide=True, warn=True, in_stream=False, dry=False)
                if not result.ok:
                    first = (result.stderr or result.stdout).strip().splitlines()[:1]
                    raise ValidationFailed(
                        f"{self.alias}: the new {path} fails `{validate.format(tmp)}`"
                        f" ({first[0] if first else 'exit ' + str(result.exited)}); nothing was installed"
                    )
            self.sftp.posix_rename(tmp, path)
        finally:
            try:
                self.sftp.remove(tmp)
            except (FileNotFoundError, OSError):
                pass

    def edit(self, path: str, transform: Callable[[str], str], *, validate: str | None = None, backup: bool = True, secret: bool | None = None) -> EditResult:
        """Read, transform (pure), diff, back up, write temp, validate, rename."""
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
        saved = self.backup(path) if backup else None
        current = self.read_bytes(path)
        if current != before_bytes:
            raise RemoteError(f"{self.alias}: {path} changed while it was being edited; run the task again")
        self.write_atomic(path, after_bytes, validate=validate)
        self.record("change", path=path, backup=saved, sha256_before=sha256(before_bytes), sha256_after=sha256(after_bytes))
        if saved:
            self.say(f"{path}: changed (backup {saved})")
        return EditResult(path, changed=True, backup=saved, diff=shown)

    def put_bytes(self, path: str, data: bytes, *, mode: int, owner: str, validate: str | None = None, like: str | None = None) -> EditResult:
        """Install `data` at `path` (new or replaced) with the given owner ("user:group") and mode."""
        exists = self.exists(path)
        before = self.read_bytes(path) if exists else None
        if before == data:
            current = self.stat(path)
            if stat.S_IMODE(current.st_mode) == mode and self._owner_of(path) == owner:
                self.say(f"{path}: unchanged")
                self.record("unchanged", path=path, sha256_before=sha256(data))
                return EditResult(path, changed=False, dry=self.dry)
        self.say(f"{path}: {'would install' if self.dry else 'installing'} {len(data)} bytes, {owner} {mode:04o} (sha256 {sha256(data)[:12]}…)")
        if self.dry:
            return EditResult(path, changed=True, dry=True)
        saved = self.backup(path) if exists else None
        self.write_atomic(path, data, validate=validate, mode=mode, owner=owner)
        self.record("change", path=path, backup=saved, sha256_before=sha256(before) if before is not None else None, sha256_after=sha256(data))
        return EditResult(path, changed=True, backup=saved)

    def _owner_of(self, path: str) -> str:
        return self.probe(f"stat -c %U:%G {q(path)}", warn=False).stdout.strip()

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:
                pass
            self._sftp = None
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

