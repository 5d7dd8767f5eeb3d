"""BIND zone files: the default TTL and the SOA serial (runbook Z1, A2, C8).

A secondary only reloads a zone whose SOA serial went *up* in RFC 1982
serial arithmetic, so every edit of a zone file comes with a serial bump,
and a bump that a secondary would read as going backwards is refused.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from . import EditError, line_body, split_lines_keepends

SERIAL_MAX = 2**32 - 1
HALF_SPACE = 2**31
TTL_MAX = 2**31 - 1

_TTL_LINE = re.compile(r"^(?P<head>\$TTL[ \t]+)(?P<value>[^\s;]+)(?P<tail>.*)$", re.IGNORECASE)


class SerialError(EditError):
    """No usable SOA serial, or a bump secondaries would not accept."""


# ---- $TTL ----------------------------------------------------------------


def set_ttl(text: str, ttl: int) -> str:
    """Set the value of every $TTL directive, keeping comments and spacing.

    A file without $TTL gets one as its first line (RFC 2308 puts it at the
    top), since otherwise BIND would fall back to the SOA minimum.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= TTL_MAX:
        raise EditError(f"TTL must be an integer in 0..{TTL_MAX}, not {ttl!r}")
    lines = split_lines_keepends(text)
    found = False
    for index, line in enumerate(lines):
        content, ending = line_body(line)
        match = _TTL_LINE.match(content)
        if match:
            found = True
            lines[index] = f"{match['head']}{ttl}{match['tail']}{ending}"
    if not found:
        lines.insert(0, f"$TTL {ttl}\n")
    return "".join(lines)


def get_ttl(text: str) -> str | None:
    """The value of the first $TTL directive as written (e.g. "3600", "1h")."""
    for line in split_lines_keepends(text):
        match = _TTL_LINE.match(line_body(line)[0])
        if match:
            return match["value"]
    return None


# ---- tokens --------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A zone-file token and where it sits in the text."""

    value: str
    start: int
    end: int
    line_start: bool  # begins in column 0, i.e. an owner name


_TOKEN = re.compile(r'(?P<comment>;[^\n]*)|(?P<space>[ \t\r\n]+)|(?P<quoted>"(?:\\.|[^"\\])*")|(?P<paren>[()])|(?P<word>[^\s;()"]+)')


def _tokens(text: str):
    """Zone tokens in order: comments and whitespace dropped, quotes kept whole."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # an unterminated quote: the rest is one token
            yield Token(text[position:], position, len(text), position == 0 or text[position - 1] == "\n")
            return
        kind = match.lastgroup
        if kind not in ("comment", "space"):
            at_line_start = position == 0 or text[position - 1] == "\n"
            yield Token(match.group(), match.start(), match.end(), at_line_start)
        position = match.end()


def _serial_token(text: str) -> Token:
    """The SOA serial: the first word after the SOA's mname and rname."""
    words = None
    for token in _tokens(text):
        if words is None:
            if token.value.upper() == "SOA" and not token.line_start:
                words = []
            continue
        if token.value in ("(", ")"):
            continue
        words.append(token)
        if len(words) == 3:
            return words[2]
    if words is None:
        raise SerialError("no SOA record found")
    raise SerialError("the SOA record ends before its serial")


def _serial_value(token: Token) -> int:
    if not (token.value.isdigit() and token.value.isascii()):
        raise SerialError("the SOA serial is not a plain number")
    serial = int(token.value)
    if serial > SERIAL_MAX:
        raise SerialError(f"the SOA serial {serial} is larger than {SERIAL_MAX}")
    return serial


def find_serial(text: str) -> int:
    """The SOA serial, whether the SOA sits on one line or spans several."""
    return _serial_value(_serial_token(text))


# ---- serial arithmetic ---------------------------------------------------


def _serial_date(serial: int) -> datetime.date | None:
    """The date of a YYYYMMDDnn serial, or None when it is not one."""
    digits = str(serial)
    if len(digits) != 10:
        return None
    try:
        return datetime.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def serial_greater(new: int, old: int) -> bool:
    """RFC 1982: does a secondary read `new` as later than `old`?"""
    return 0 < (new - old) % 2**32 < HALF_SPACE


def next_serial(old: int, today: datetime.date) -> int:
    """The serial to write after `old`.

    A date-like serial (YYYYMMDDnn) becomes today's with nn=00, or old+1
    when old is already today or later; any other serial becomes old+1.
    Refused when the result would not be read as greater (RFC 1982): above
    2**32-1, or a jump of 2**31 or more.
    """
    if not 0 <= old <= SERIAL_MAX:
        raise SerialError(f"serial {old} is outside 0..{SERIAL_MAX}")
    candidate = old + 1
    if _serial_date(old) is not None:
        todays = int(today.strftime("%Y%m%d")) * 100
        if todays > old:
            candidate = todays
    if candidate > SERIAL_MAX or not serial_greater(candidate, old):
        raise SerialError(
            f"cannot bump serial {old} to {candidate}: secondaries would not see it as newer (RFC 1982)"
        )
    return candidate


def bump_serial(text: str, today: datetime.date) -> str:
    """Rewrite only the digits of the SOA serial; every other byte stays."""
    token = _serial_token(text)
    new = next_serial(_serial_value(token), today)
    return text[: token.start] + str(new) + text[token.end:]
