"""qmail's queue as `qmail-qread` lists it: each message, then its recipients still to do, local or remote.

    01 Dec 2026 22:10:03 GMT  #123  456  <sender@x>
    \tlocal\tyasuda@itpass.scitec.kobe-u.ac.jp
    \tremote\tsomeone@example.org

C4 drains the local deliveries into the mailboxes it carries (or proves
the queue empty) before it copies /home; the remote ones are old's own
outgoing mail, which old sends itself once D4 starts qmail again.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Queue:
    messages: int = 0
    local: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)


def parse_qread(text: str) -> Queue:
    queue = Queue()
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() and "#" in line:
            queue.messages += 1
            continue
        words = line.split()
        if len(words) == 2 and words[0] in ("local", "remote"):
            (queue.local if words[0] == "local" else queue.remote).append(words[1])
    return queue
