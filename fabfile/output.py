"""What the operator sees: whole lines, one writer per terminal, every line through the secret filter.

Steps of old and new run concurrently (steps.run_lanes); without a
line-buffered writer two `print`s could interleave inside a line. Each line
is prefixed by its host already ("[old] ..."), so whole lines are enough to
read the output. Every line also passes `redact` (fabfile/edit/secrets.py):
a password hash, a private key or a registered secret never reaches the
screen, whatever printed it.
"""

from __future__ import annotations

import threading


def redact(text: str) -> str:
    """The one secret filter (fabfile/edit/secrets.py) applied to shown text."""
    try:
        from .edit.secrets import redact as _redact
    except ImportError:  # the filter module not present in this checkout
        return text
    return _redact(text)


class LineWriter:
    """A thread-safe text stream: each thread's output reaches `target` in whole, filtered lines."""

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
                self.target.write(redact(head + newline))
        return len(data)

    def flush(self) -> None:
        partial = getattr(self._local, "partial", "")
        with self._lock:
            if partial:
                self.target.write(redact(partial))
                self._local.partial = ""
            self.target.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.target, "isatty", lambda: False)())

    def __getattr__(self, name):
        return getattr(self.target, name)


def synced(out):
    return out if isinstance(out, LineWriter) else LineWriter(out)
