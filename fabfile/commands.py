"""Remote commands: argv lists, quoted by this module, and nothing else.

A value from hosts.toml, a file name or a user name is never pasted into a
shell command line. A command is either

* an argv list (`["systemctl", "disable", unit]`): every element is quoted
  with `shlex.quote`, so it reaches the program as one argument whatever it
  holds (spaces, `;`, `$(...)`); or
* a `Script`: a literal shell text written in the code (a pipeline, a
  redirection, a loop) whose values come in as positional parameters
  (`Script('cd "$1" && exec "$@"', workdir, *argv)`), run as
  `sh -c TEXT sh ARG...`. The text is a constant; a test walks the AST of
  fabfile/ and fails on a Script built from anything but a string literal.

`Runner` is the one place that hands commands to the Fabric connection.
Every call is hidden, never reads the operator's stdin, runs for real even
under `fab --dry` (the caller decides what a dry run may do), and turns
Invoke's and Paramiko's failures into one-line `RemoteError`s naming the
host, the command and what to do: no "Encountered a bad command exit code!"
dump, no traceback.
"""

from __future__ import annotations

import os
import shlex
import socket

import paramiko
from invoke.exceptions import CommandTimedOut, Failure, ThreadException

from .errors import RemoteError


class Script:
    """A literal shell text of the code, its values passed as $1, $2, ... (see the module doc)."""

    __slots__ = ("text", "args")

    def __init__(self, text: str, *args):
        if not isinstance(text, str):
            raise TypeError("Script text must be a string literal")
        self.text = text
        self.args = tuple(str(a) for a in args)

    def render(self) -> str:
        return shlex.join(["sh", "-c", self.text, "sh", *self.args])

    def __repr__(self) -> str:
        return f"Script({self.text!r}{''.join(', ' + repr(a) for a in self.args)})"


def render(command) -> str:
    """The command line the remote shell gets: every argv element quoted, or a Script's `sh -c`."""
    if isinstance(command, Script):
        return command.render()
    if isinstance(command, (list, tuple)) and command and all(isinstance(a, (str, int, os.PathLike)) for a in command):
        return shlex.join(str(a) for a in command)
    raise TypeError(f"a remote command is an argv list or a Script, not {type(command).__name__}")


def shown(command) -> str:
    """How a command is shown to the operator (the same words, without the `sh -c` wrapping)."""
    if isinstance(command, Script):
        return command.text + ("" if not command.args else "  # " + shlex.join(command.args))
    return shlex.join(str(a) for a in command)


def first_line(result) -> str:
    text = ((result.stderr or "") + "\n" + (result.stdout or "")).strip()
    return text.splitlines()[0][:200] if text else f"exit {result.exited}"


LOST = (paramiko.SSHException, EOFError, socket.timeout, TimeoutError, ConnectionError, OSError)


class Runner:
    """Commands on one host over its reused connection (see the module doc)."""

    def __init__(self, alias: str, connection):
        self.alias = alias
        self.connection = connection

    def run(self, command, *, timeout: int | None = None, out_stream=None, env: dict | None = None):
        """Run for real and return the Result (exit status not judged here)."""
        line = render(command)
        try:
            result = self.connection.run(line, hide=True, warn=True, dry=False, in_stream=False, timeout=timeout,
                                         out_stream=out_stream, env=env or {})
        except CommandTimedOut:
            raise RemoteError(f"{self.alias}: `{shown(command)}` gave no answer within {timeout} s; "
                              f"check the host (is it up? is its link?), then run the task again") from None
        except (Failure, ThreadException) as exc:
            raise RemoteError(f"{self.alias}: `{shown(command)}` could not run ({exc.__class__.__name__}); run the task again") from None
        except LOST as exc:
            raise RemoteError(f"{self.alias}: the connection dropped while running `{shown(command)}` "
                              f"({exc.__class__.__name__}: {exc}); check the host and its link, then run the task again") from None
        if result.exited is None or result.exited < 0:   # the channel closed without an exit status: the link or the host went
            raise RemoteError(f"{self.alias}: the connection dropped while running `{shown(command)[:120]}` (no exit status); "
                              f"check the host and its link, then run the task again")
        return result

    def stream(self, command):
        """Yield stdout lines (bytes) of a command, with bounded memory (SSH flow control buffers the rest).

        Raises RemoteError if the command exits non-zero.
        """
        try:
            channel = self.connection.client.get_transport().open_session()
        except LOST as exc:
            raise RemoteError(f"{self.alias}: the connection dropped ({exc}); run the task again") from None
        try:
            channel.exec_command(render(command))
            with channel.makefile("rb") as fh:
                yield from fh
            status = channel.recv_exit_status()
            if status != 0:
                error = channel.makefile_stderr("rb").read().decode("utf-8", "replace").strip()
                raise RemoteError(f"{self.alias}: `{shown(command)}` failed ({(error.splitlines() or ['exit ' + str(status)])[0]})")
        except LOST as exc:
            raise RemoteError(f"{self.alias}: the connection dropped while reading `{shown(command)}` ({exc}); run the task again") from None
        finally:
            channel.close()
