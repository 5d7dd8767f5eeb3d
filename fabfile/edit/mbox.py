"""mbox mailboxes as qmail's ./Mailbox delivery writes them: messages split on "From " lines.

Back-out carries back the mail new received during the window: the
messages of new's mailbox that old's does not hold, appended to old's, each
byte as it was. A message is identified by its whole text (its "From "
envelope line included), so the same message is never carried twice.
"""

from __future__ import annotations


def messages(text: str) -> list[str]:
    """The messages of an mbox, each with its "From " line and its trailing blank line, as written."""
    found, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("From ") and current and (len(current) == 1 or current[-1] in ("\n", "\r\n")):
            found.append("".join(current))
            current = []
        current.append(line)
    if current:
        found.append("".join(current))
    return [m for m in found if m.startswith("From ")]


def missing_from(source: str, target: str) -> list[str]:
    """The messages of `source` that `target` does not hold (by whole text), in `source`'s order."""
    have = set(messages(target))
    return [m for m in messages(source) if m not in have]


def append(target: str, new_messages: list[str]) -> str:
    """`target` with `new_messages` appended (a blank line kept between messages, as mbox needs)."""
    if not new_messages:
        return target
    text = target
    if text and not text.endswith("\n"):
        text += "\n"
    if text and not text.endswith("\n\n"):
        text += "\n"
    return text + "".join(m if m.endswith("\n") else m + "\n" for m in new_messages)
