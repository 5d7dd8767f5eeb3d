"""The host layer: the one door through which serverswap touches a machine.

`Host` is a host of hosts.toml reached over one reused SSH connection. It
is three things, each in its own module:

* commands (fabfile/commands.py `Runner`): argv lists or literal Scripts,
  quoted there, hidden, never reading the operator's stdin;
* files (fabfile/hostfiles.py `Files`): read, stat, backup, atomic write,
  the edit contract, install;
* facts (fabfile/facts.py `Facts`): what the host answers, read once.

and what ties them together: output ("[alias] ..." lines, through the one
secret filter), the journal, and the dry-run rule: probes run for real,
also in a dry run, so a dry run shows what would change against the host
as it is now; changes run only when not dry, and are shown instead.

Safe to use from several threads (steps.run_lanes): the SSH transport
multiplexes channels; each thread gets its own SFTP channel and its own
task/step labels for the journal.
"""

from __future__ import annotations

import sys
import threading

from .commands import Script, first_line, shown
from .errors import RemoteError, ValidationFailed  # noqa: F401 (re-exported)
from .facts import Facts
from .hostfiles import ENCODING, TEMP, EditResult, Files, sha256, stamp  # noqa: F401 (re-exported)
from .output import synced


class Host:
    def __init__(self, spec, connection, *, dry: bool, journal=None, out=None, backup_dir: str = ""):
        from .commands import Runner

        self.spec = spec
        self.alias = spec.alias
        self.connection = connection
        self.dry = dry
        self.journal = journal
        self.out = synced(out or sys.stdout)
        self._local = threading.local()
        self.runner = Runner(self.alias, connection)
        self.files = Files(self, backup_dir)
        self.facts = Facts(self)

    @property
    def address(self) -> str:
        """The address this connection reached."""
        return self.connection.host

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

    # -- output and journal ---------------------------------------------
    def say(self, message: str) -> None:
        print(f"[{self.alias}] {message}", file=self.out, flush=True)

    @property
    def tx(self):
        """The transaction (fabfile/transaction.py) this thread's file changes belong to, if any."""
        return getattr(self._local, "tx", None)

    @tx.setter
    def tx(self, value):
        self._local.tx = value

    def record(self, event: str, **fields) -> None:
        if self.journal is not None:
            self.journal.write(event, host=self.alias, task=self.task, step=self.step, tx=self.tx, **fields)

    # -- commands -----------------------------------------------------------
    def probe(self, command, *, timeout: int | None = None):
        """Run a read-only command for real, even in a dry run; the Result (exit status not judged)."""
        return self.runner.run(command, timeout=timeout)

    def check(self, command, *, timeout: int | None = None) -> bool:
        return self.probe(command, timeout=timeout).ok

    def change(self, command, *, what: str | None = None, timeout: int | None = None, fix: str = "", out_stream=None, ok_codes=(0,)):
        """Run a command that changes the host; in a dry run only say it. Fails (one line) on a bad exit."""
        what = what or shown(command)
        if self.dry:
            self.say(f"dry run: would run: {what}")
            return None
        result = self.runner.run(command, timeout=timeout, out_stream=out_stream)
        if result.exited not in ok_codes:
            raise RemoteError(f"{self.alias}: `{what}` failed ({first_line(result)}){'; ' + fix if fix else '; fix it and run the task again'}")
        self.record("change", detail=what)
        return result

    def launch(self, command, *, delay: float, what: str) -> None:
        """Start `command` detached after `delay` s (it outlives this connection: a reboot, a network restart)."""
        script = Script('d=$1; shift; nohup sh -c \'sleep "$0"; exec "$@"\' "$d" "$@" >/dev/null 2>&1 &', f"{delay:g}", *_argv(command))
        self.change(script, what=what, timeout=30)

    def open_session(self):
        """A raw channel of this connection (a helper that must hold something open: the accounts lock)."""
        try:
            return self.connection.client.get_transport().open_session()
        except Exception as exc:  # noqa: BLE001 - paramiko raises several kinds here
            raise RemoteError(f"{self.alias}: cannot open a channel ({exc.__class__.__name__}); run the task again") from None

    def server_key(self):
        """The host key this connection verified (paramiko PKey)."""
        return self.connection.client.get_transport().get_remote_server_key()

    # -- files (the edit contract is Files.edit) ------------------------------
    def exists(self, path: str) -> bool:
        return self.files.exists(path)

    def stat(self, path: str):
        return self.files.stat(path)

    def read_bytes(self, path: str) -> bytes:
        return self.files.read_bytes(path)

    def read_text(self, path: str) -> str:
        return self.files.read_text(path)

    def read_lines(self, path: str):
        return self.files.read_lines(path)

    def owner_of(self, path: str) -> str:
        return self.files.owner_of(path)

    def edit(self, path, transform, **kwargs) -> EditResult:
        return self.files.edit(path, transform, **kwargs)

    def put_bytes(self, path, data, **kwargs) -> EditResult:
        return self.files.put_bytes(path, data, **kwargs)

    def close(self) -> None:
        self.files.close()
        self.connection.close()


def _argv(command) -> list[str]:
    if isinstance(command, Script):
        return ["sh", "-c", command.text, "sh", *command.args]
    return [str(a) for a in command]


def copy_file(source: Host, target: Host, path: str, *, target_path: str | None = None, owner: str | None = None, mode: int | None = None) -> EditResult:
    """Copy one file between two hosts through the operator, keeping mode and owner.

    Owner is carried by name (user:group), not by number: UIDs differ between
    machines, and names are what C2/C7 mean by "the same owner".
    """
    import stat as stat_mod

    data = source.read_bytes(path)
    st = source.stat(path)
    owner = owner or source.files.owner_of(path, st)
    mode = stat_mod.S_IMODE(st.st_mode) if mode is None else mode
    return target.put_bytes(target_path or path, data, mode=mode, owner=owner)
