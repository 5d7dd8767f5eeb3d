"""The mail ledger: every tagged message the watcher got accepted, found exactly once in the right mailbox (pure).

The watcher's SMTP lane sends messages tagged `ssw-RUN-SEQ-aN` (message
SEQ of watch run RUN, attempt N) in the X-Serverswap-Check header. A
message is *sent* once a server answered 250 to one of its attempts. At
the end its recipient's mailbox on new (mbox text) is read: *delivered* =
exactly one copy of the message (whichever attempt), *lost* = none there,
*duplicated* = more than one.

A retrying sender can duplicate a message by itself: when an attempt ends
without an answer after DATA (a timeout, a dropped connection: the 250 was
lost), the sender cannot know the server took it, so it sends again, as
any MTA does (RFC 1047). If both copies arrive, the user has two: that
is a duplicate and is counted as one, with its cause ("re-sent after
attempt 1 ended without an answer") so the operator can tell the
protocol's known duplicate from a server delivering one attempt twice
(or a queue carried twice). Messages never accepted are not sent: they
are listed as pending (still retrying at the end) or given up; one found
all the same (its 250 was lost, no retry followed) is listed as
delivered unconfirmed. None of these change the ledger line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.parser import HeaderParser

TAG_HEADER = "X-Serverswap-Check"     # the header fabfile.checks.send_tagged writes
TAG = re.compile(r"^(ssw-([0-9a-f]+)-\d+)-a(\d+)$")


def message_tag(run: str, seq: int) -> str:
    return f"ssw-{run}-{seq:05d}"


def attempt_tag(message: str, attempt: int) -> str:
    return f"{message}-a{attempt}"


def split_tag(tag: str) -> tuple[str, str, int] | None:
    """(message tag, run, attempt) of an attempt tag; None for any other tag."""
    m = TAG.match(tag.strip())
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def mbox_messages(text: str) -> list[str]:
    """The messages of an mbox text (a `From ` line after a blank line starts one); no From_ line: one message."""
    messages: list[list[str]] = []
    blank = True
    for line in text.splitlines(keepends=True):
        if line.startswith("From ") and blank:
            messages.append([])
        elif messages:
            messages[-1].append(line)
        blank = not line.strip()
    if not messages:
        return [text] if text.strip() else []
    return ["".join(m) for m in messages]


def tags_in(text: str) -> list[str]:
    """The tag header's value of each message of a mailbox that carries one (its headers only are read)."""
    parser = HeaderParser()
    found = []
    for message in mbox_messages(text):
        for value in parser.parsestr(message, headersonly=True).get_all(TAG_HEADER) or ():
            found.append(str(value).strip())
    return found


@dataclass
class Letter:
    """One message of the watcher: its attempts as the probe lines record them."""

    tag: str
    rcpt: str = ""
    attempts: list[tuple[int, str]] = field(default_factory=list)   # (attempt, outcome)
    gave_up: bool = False

    @property
    def accepted(self) -> bool:
        return any(outcome == "accepted" for _, outcome in self.attempts)


def letters(records: list[dict]) -> dict[str, Letter]:
    """The watcher's messages, by tag, from its smtp probe records (in probe order)."""
    out: dict[str, Letter] = {}
    for r in records:
        if r.get("service") != "smtp" or not r.get("tag"):
            continue
        letter = out.setdefault(r["tag"], Letter(r["tag"], r.get("rcpt", "")))
        letter.attempts.append((int(r.get("attempt") or 0), str(r.get("outcome", ""))))
        letter.gave_up = letter.gave_up or bool(r.get("gave_up"))
    return out


def _boxes(mailbox_texts) -> dict[str, str] | str:
    """{mailbox: text} as given, or one text (every text given is the right mailbox)."""
    if isinstance(mailbox_texts, str):
        return mailbox_texts
    if isinstance(mailbox_texts, dict):
        return dict(mailbox_texts)
    return "".join(mailbox_texts)


def _box_name(rcpt: str) -> str:
    return rcpt.split("@", 1)[0].lower()


def found_copies(mailbox_texts, run: str) -> dict[str, dict[str, list[int]]]:
    """{mailbox: {message tag: [attempt of each copy]}} for the tags of watch run `run` ("*" = the one mailbox)."""
    boxes = _boxes(mailbox_texts)
    boxes = {"*": boxes} if isinstance(boxes, str) else boxes
    out: dict[str, dict[str, list[int]]] = {}
    for box, text in boxes.items():
        copies = out.setdefault(box if box == "*" else _box_name(box), {})
        for tag in tags_in(text):
            parts = split_tag(tag)
            if parts and parts[1] == run:
                copies.setdefault(parts[0], []).append(parts[2])
    return out


def duplicate_cause(letter: Letter, copies: list[int]) -> str:
    """Why a message is there more than once: the sender's re-send after a lost 250, or the server's doing."""
    outcomes = dict(letter.attempts)
    if len(set(copies)) == len(copies):
        silent = [a for a in sorted(copies) if outcomes.get(a) == "unknown"]
        if silent:
            return (f"re-sent after attempt {silent[0]} ended without an answer (its 250 was lost): "
                    f"attempts {sorted(copies)} arrived")
        return f"attempts {sorted(copies)} each arrived"
    return f"one attempt delivered more than once (attempts {sorted(copies)}): the server or a carried queue duplicated it"


@dataclass
class Ledger:
    """The reconciliation: counts for the report's line, and the messages behind each count, by tag."""

    sent: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    lost: list[dict] = field(default_factory=list)          # {tag, why}
    duplicated: list[dict] = field(default_factory=list)    # {tag, copies, why}
    pending: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)    # found, though no attempt got a 250
    unknown: list[str] = field(default_factory=list)        # this run's tags found that no probe line sent

    @property
    def line(self) -> str:
        return (f"mail ledger: sent {len(self.sent)}, delivered {len(self.delivered)}, "
                f"lost {len(self.lost)}, duplicated {len(self.duplicated)}")

    def as_dict(self) -> dict:
        return dict(line=self.line, sent=len(self.sent), delivered=len(self.delivered), lost=self.lost,
                    duplicated=self.duplicated, pending=self.pending, gave_up=self.gave_up,
                    unconfirmed=self.unconfirmed, unknown=self.unknown)


def _elsewhere(found, right: str, tag: str) -> list[str]:
    return sorted(box for box, copies in found.items() if box not in (right, "*") and tag in copies)


def _judge(ledger: Ledger, letter: Letter, copies: list[int], elsewhere: list[str]) -> None:
    if not letter.accepted:
        if copies:
            ledger.unconfirmed.append(letter.tag)
        (ledger.gave_up if letter.gave_up else ledger.pending).append(letter.tag)
        return
    ledger.sent.append(letter.tag)
    if len(copies) == 1:
        ledger.delivered.append(letter.tag)
    elif not copies:
        where = f"; found in {', '.join(elsewhere)}'s mailbox instead" if elsewhere else ""
        ledger.lost.append(dict(tag=letter.tag, why=f"not in {_box_name(letter.rcpt) or 'the'} mailbox on new{where}"))
    else:
        ledger.duplicated.append(dict(tag=letter.tag, copies=len(copies), why=duplicate_cause(letter, copies)))


def reconcile(records: list[dict], mailbox_texts, run: str) -> Ledger:
    """The ledger of watch run `run`: its probe records against the mailbox texts read from new at the end.

    mailbox_texts: {mailbox (user or address): mbox text}, or the text(s)
    of the recipient's mailbox alone.
    """
    sent = letters(records)
    found = found_copies(mailbox_texts, run)
    ledger = Ledger()
    for tag, letter in sent.items():
        right = "*" if "*" in found else _box_name(letter.rcpt)
        _judge(ledger, letter, found.get(right, {}).get(tag, []), _elsewhere(found, right, tag))
    seen = {tag for copies in found.values() for tag in copies}
    ledger.unknown = sorted(seen - set(sent))
    return ledger
