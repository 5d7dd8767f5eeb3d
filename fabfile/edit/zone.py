"""BIND master files (zone files) as named reads them: one model for every zone edit.

Runbook Z1 lowers the TTLs before the move, A2 restores them, C8 swaps the
site's names and addresses in the zone data (identity.swap_zone, on this
model); each edit bumps the SOA serial.
All of them read a zone through `load()`, which follows BIND 9's loader
(lib/dns/master.c, lib/dns/ttl.c) rule by rule:

- tokens: `;` comments, `( )` joining lines, `"quoted"` strings, `\\` escapes;
- an owner in column 0, `@` for the origin, a blank owner repeating the last;
- `[class] [ttl] [class] type rdata`, TTLs with units (`1h`, `1w2d`, `30M`);
- `$ORIGIN`; `$TTL`, which stays in force after the `$INCLUDE` that set it
  returns (its `$ORIGIN` does not); `$INCLUDE file [origin]`, followed when
  the caller hands over the included file; `$GENERATE`, kept verbatim, its
  TTL counted and lowered like a record's;
- a record without a TTL takes `$TTL`, else the last TTL stated (RFC 1035),
  else, for the SOA, its MINIMUM; one block of an RRset keeps the TTL of its
  first record ("TTL set to prior TTL") and an RRset spread over the file
  takes the TTL of its last block: the TTLs `named-checkzone -D` prints.

Every token keeps its bytes, so the tokens render the input back exactly and
an edit is a list of splices that touches only the bytes it must.

A secondary only reloads a zone whose SOA serial went *up* in RFC 1982 serial
arithmetic, so a bump that a secondary would read as going backwards is
refused.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from . import EditError
from . import namedconf as _namedconf

SERIAL_MAX = 2**32 - 1
HALF_SPACE = 2**31
TTL_MAX = 2**31 - 1
MAX_INCLUDE_DEPTH = 16


class ZoneError(EditError):
    """A zone file named would reject, or one these editors cannot edit safely."""


class SerialError(EditError):
    """No usable SOA serial, or a bump secondaries would not accept."""


# ---- TTL text (dns_ttl_fromtext, dns_ttl_totext) ----------------------------

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TTL_PART = re.compile(r"([0-9]*)([wdhmsWDHMS]?)")


def ttl_value(text: str) -> int | None:
    """Seconds of a TTL as BIND reads it, or None when BIND would not take it as a TTL.

    `3600`, `1h`, `1H`, `1w2d`, `30M` are TTLs; `1h30` is not (a bare number
    after a unit is refused), nor `h`; `0h30` is 30, as in BIND. Sums wrap at
    2**32 like BIND's 32-bit arithmetic.
    """
    if not text or len(text) > 63 or not text.isascii():
        return None
    total, position = 0, 0
    while position < len(text):
        digits, unit = _TTL_PART.match(text, position).groups()
        if not digits or int(digits) > SERIAL_MAX:
            return None
        position += len(digits) + len(unit)
        if not unit:
            return int(digits) if position == len(text) and total == 0 else None
        total = (total + int(digits) * _UNITS[unit.lower()]) % 2**32
    return total


def _limit(seconds: int | None) -> int | None:
    """BIND sets a TTL above 2**31-1 to 0 (RFC 2181 8)."""
    return 0 if seconds is not None and seconds > TTL_MAX else seconds


def ttl_text(seconds: int, *, verbose: bool = False) -> str:
    """BIND's dns_ttl_totext: `5M`, `1h30m`, or "1 hour 30 minutes" when verbose."""
    parts, rest = [], seconds
    for unit, size, word in (("w", 604800, "week"), ("d", 86400, "day"), ("h", 3600, "hour"), ("m", 60, "minute")):
        count, rest = divmod(rest, size)
        if count:
            parts.append((count, unit, word))
    if rest or not parts:
        parts.append((rest, "s", "second"))
    if verbose:
        return " ".join(f"{count} {word}{'' if count == 1 else 's'}" for count, _, word in parts)
    short = "".join(f"{count}{unit}" for count, unit, _ in parts)
    return short.upper() if len(parts) == 1 else short


def _check_ttl(seconds) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= TTL_MAX:
        raise EditError(f"TTL must be an integer in 0..{TTL_MAX}, not {seconds!r}")


# ---- tokens --------------------------------------------------------------------

_LEX = re.compile(
    r"(?P<newline>\r?\n)"
    r"|(?P<space>(?:[ \t]|\r(?!\n))+)"
    r"|(?P<comment>;(?:[^\r\n]|\r(?!\n))*)"
    r'|(?P<quoted>"(?:[^"\\\n]|\\[\s\S])*")'
    r"|(?P<open>\()|(?P<close>\))"
    r'|(?P<word>(?:[^ \t\r\n;()"\\]|\\[\s\S]|\\\Z)+)'
)


@dataclass(frozen=True)
class Token:
    """One lexical piece of a master file with its place; every byte is in exactly one token."""

    kind: str  # newline, space, comment, quoted, open, close, word
    text: str
    start: int
    line: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def tokenize(text: str, name: str = "zone file") -> list[Token]:
    """The tokens of a master file, as BIND's lexer cuts it (quotes stop at the line's end)."""
    tokens, position, line = [], 0, 1
    while position < len(text):
        match = _LEX.match(text, position)
        if match is None:
            raise ZoneError(f"{name}: line {line}: quoted string not closed on its line")
        tokens.append(Token(match.lastgroup, match.group(), position, line))
        line += match.group().count("\n")
        position = match.end()
    return tokens


# ---- entries (logical lines) ---------------------------------------------------

_CLASSES = {"IN", "CH", "CHAOS", "HS", "HESIOD", "NONE", "ANY"}


@dataclass(eq=False)
class Entry:
    """One logical line (parentheses join physical lines): a record, a directive or nothing."""

    file: str
    index: int
    tokens: list[Token]
    kind: str = "blank"  # blank, directive, record
    directive: str | None = None  # "$TTL", "$ORIGIN", ... (upper case)
    owner: Token | None = None
    ttl: Token | None = None
    rclass: Token | None = None
    rtype: Token | None = None
    rdata: list[Token] = field(default_factory=list)  # a directive's arguments for directives

    @property
    def line(self) -> int:
        return self.tokens[0].line

    @property
    def words(self) -> list[Token]:
        return [token for token in self.tokens if token.kind in ("word", "quoted")]


def _is_class(token: Token) -> bool:
    value = token.text.upper()
    return token.kind == "word" and (value in _CLASSES or re.fullmatch(r"CLASS[0-9]+", value) is not None)


def _is_ttl(token: Token) -> bool:
    return token.kind == "word" and ttl_value(token.text) is not None


def _fields(entry: Entry, words: list[Token]) -> None:
    """`[class] [ttl] [class] type rdata`, the order BIND tries them in."""
    i = 0
    if i < len(words) and _is_class(words[i]):
        entry.rclass, i = words[i], i + 1
    if i < len(words) and _is_ttl(words[i]):
        entry.ttl, i = words[i], i + 1
    if entry.rclass is None and i < len(words) and _is_class(words[i]):
        entry.rclass, i = words[i], i + 1
    if i < len(words):
        entry.rtype, entry.rdata = words[i], words[i + 1:]


def _classify(entry: Entry) -> Entry:
    words = entry.words
    if not words:
        return entry
    first = entry.tokens[0]
    if first is words[0] and first.text.startswith("$"):
        entry.kind, entry.directive = "directive", first.text.upper()
        if entry.directive == "$GENERATE":  # $GENERATE range lhs [class] [ttl] [class] type rhs
            _fields(entry, words[3:])
            entry.rdata = words[1:]
        else:
            entry.rdata = words[1:]
        return entry
    entry.kind = "record"
    if first is words[0]:
        entry.owner, words = words[0], words[1:]
    _fields(entry, words)
    return entry


def _entries(tokens: list[Token], name: str) -> list[Entry]:
    entries, current, depth = [], [], 0
    for token in tokens:
        current.append(token)
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            depth -= 1
            if depth < 0:
                raise ZoneError(f"{name}: line {token.line}: ')' without '('")
        elif token.kind == "newline" and depth == 0:
            entries.append(_classify(Entry(name, len(entries), current)))
            current = []
    if depth > 0:
        raise ZoneError(f"{name}: line {current[0].line}: '(' is never closed")
    if current:
        entries.append(_classify(Entry(name, len(entries), current)))
    return entries


@dataclass(eq=False)
class ZoneFile:
    """One master file: its text and its entries; the entries' tokens render the text back."""

    name: str
    text: str
    entries: list[Entry]

    def render(self) -> str:
        return "".join(token.text for entry in self.entries for token in entry.tokens)


def parse_file(text: str, name: str = "zone file") -> ZoneFile:
    """The syntax of one master file (no names resolved, no $INCLUDE followed)."""
    parsed = ZoneFile(name, text, _entries(tokenize(text, name), name))
    if parsed.render() != text:  # every byte is in one token: this cannot differ
        raise ZoneError(f"{name}: internal error: the parse does not give the file back")
    return parsed


# ---- names -----------------------------------------------------------------------


def is_absolute(name: str) -> bool:
    """A name ending in an unescaped dot."""
    if not name.endswith("."):
        return False
    body = name[:-1]
    return (len(body) - len(body.rstrip("\\"))) % 2 == 0


def absolute(name: str, origin: str | None) -> str | None:
    """The absolute form of a name against the origin; None for a relative name and no origin."""
    if name == "@":
        return origin
    if is_absolute(name):
        return name
    if origin is None:
        return None
    return f"{name}." if origin == "." else f"{name}.{origin}"


def relative(name: str, origin: str | None) -> str:
    """An absolute name written relative to the origin when it lies under it."""
    if origin and origin != "." and name.lower().endswith("." + origin.lower()):
        return name[: -len(origin) - 1]
    return name


def _unquote(token: Token) -> str:
    if token.kind != "quoted":
        return token.text
    return re.sub(r"\\(.)", r"\1", token.text[1:-1], flags=re.DOTALL)


# ---- the zone as named loads it --------------------------------------------------


@dataclass(eq=False)
class Record:
    """One record (or $GENERATE line) with the TTL named gives it."""

    entry: Entry
    owner: str | None  # absolute; None when relative to an unknown origin
    origin: str | None
    rtype: str
    own_ttl: int | None  # the TTL written on the record
    ttl: int | None  # the TTL named uses (None: named would reject, no TTL known)
    ttl_from: str  # explicit, $TTL, previous record, SOA minimum, first of RRset block, none
    seq: int
    generated: bool = False
    final_from: str = ""  # where the TTL named ends up with comes from (the RRset's last block)

    @property
    def name(self) -> str:
        """The owner for messages: absolute when known, else as written."""
        if self.generated:
            return f"$GENERATE {self.entry.rdata[1].text}"
        if self.owner is not None:
            return self.owner
        return self.entry.owner.text if self.entry.owner is not None else "(no owner)"

    @property
    def rrset(self) -> tuple[str, str]:
        return (self.name.lower(), self.rtype)


@dataclass(frozen=True)
class Directive:
    """A $TTL or $INCLUDE as loaded."""

    entry: Entry
    seq: int
    value: int | None = None  # $TTL: seconds
    target: str | None = None  # $INCLUDE: the file as written
    origin: str | None = None  # $INCLUDE: the origin inside
    followed: bool = False


@dataclass(eq=False)
class Zone:
    """Every file of a zone (the main one first) and what named makes of them."""

    main: str
    origin: str | None
    files: dict[str, ZoneFile] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    ttls: list[Directive] = field(default_factory=list)
    includes: list[Directive] = field(default_factory=list)

    def soa(self) -> Record | None:
        return next((r for r in self.records if r.rtype == "SOA" and not r.generated), None)

    def unfollowed(self) -> list[Directive]:
        return [d for d in self.includes if not d.followed]


@dataclass(eq=False)
class _Block:
    """BIND's current list: records of one owner read in a row (committed as one block)."""

    owner: str | None
    name: str | None
    ttls: dict = field(default_factory=dict)
    ns_targets: set = field(default_factory=set)


@dataclass(eq=False)
class _FileState:
    origin: str | None
    current: _Block | None = None
    glue: _Block | None = None


def _reader(includes) -> Callable[[str], str | None]:
    if includes is None:
        return lambda target: None
    if callable(includes):
        return includes
    return includes.get


class _Loader:
    """BIND's load state: the TTLs are shared by all files, origin and owner are per file."""

    def __init__(self, zone: Zone, read: Callable[[str], str | None]):
        self.zone, self.read = zone, read
        self.ttl, self.ttl_known = 0, False
        self.default, self.default_known = 0, False
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def run(self, zfile: ZoneFile, state: _FileState, depth: int) -> None:
        for entry in zfile.entries:
            if entry.kind == "directive":
                self.directive(entry, state, depth)
            elif entry.kind == "record":
                self.record(entry, state)

    def directive(self, entry: Entry, state: _FileState, depth: int) -> None:
        kind, where = entry.directive, f"{entry.file}: line {entry.line}"
        if kind in ("$ORIGIN", "$TTL", "$INCLUDE", "$GENERATE") and not entry.rdata:
            raise ZoneError(f"{where}: {kind} without its value")
        if kind == "$ORIGIN":
            state.origin = absolute(entry.rdata[0].text, state.origin)
        elif kind == "$TTL":
            self.set_default(entry, where)
        elif kind == "$INCLUDE":
            self.include(entry, state, depth, where)
        elif kind == "$GENERATE":
            self.generate(entry, state, where)
        elif kind != "$DATE":
            raise ZoneError(f"{where}: unknown directive {entry.directive}")

    def set_default(self, entry: Entry, where: str) -> None:
        value = ttl_value(entry.rdata[0].text)
        if value is None:
            raise ZoneError(f"{where}: $TTL {entry.rdata[0].text!r} is not a TTL")
        self.ttl = self.default = _limit(value)
        self.ttl_known = self.default_known = True
        self.zone.ttls.append(Directive(entry, self.next_seq(), value=self.default))

    def include(self, entry: Entry, state: _FileState, depth: int, where: str) -> None:
        target = _unquote(entry.rdata[0])
        origin = absolute(entry.rdata[1].text, state.origin) if len(entry.rdata) > 1 else state.origin
        text = self.read(target)
        self.zone.includes.append(Directive(entry, self.next_seq(), target=target, origin=origin, followed=text is not None))
        _new_blocks(state)  # BIND commits what it has before and after an include
        if text is None:
            return
        if depth >= MAX_INCLUDE_DEPTH:
            raise ZoneError(f"{where}: $INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} files (a loop?)")
        zfile = self.zone.files.setdefault(target, parse_file(text, target))
        inner = _FileState(origin)
        last = state.glue or state.current
        inner.current = _Block(last.owner, last.name) if last else None
        self.run(zfile, inner, depth + 1)
        _new_blocks(state)

    def generate(self, entry: Entry, state: _FileState, where: str) -> None:
        if entry.rtype is None:
            raise ZoneError(f"{where}: $GENERATE without a record type")
        own = _limit(ttl_value(entry.ttl.text)) if entry.ttl else None
        ttl, source = self.ttl_for(own, "", entry)
        self.zone.records.append(Record(entry, None, state.origin, entry.rtype.text.upper(), own, ttl, source,
                                        self.next_seq(), generated=True))

    def record(self, entry: Entry, state: _FileState) -> None:
        where = f"{entry.file}: line {entry.line}"
        if entry.rtype is None or entry.rtype.text.startswith("$"):
            raise ZoneError(f"{where}: a record without its type (or a directive not in column 0)")
        owner = self.owner_of(entry, state)
        rtype = entry.rtype.text.upper()
        own = _limit(ttl_value(entry.ttl.text)) if entry.ttl else None
        ttl, source = self.ttl_for(own, rtype, entry)
        block = state.glue or state.current or _Block(None, None)
        if rtype == "NS" and state.glue is None and entry.rdata:
            block.ns_targets.add((absolute(entry.rdata[0].text, state.origin) or "").lower())
        key = (rtype, entry.rdata[0].text.upper() if rtype in ("RRSIG", "SIG") and entry.rdata else "")
        first = block.ttls.setdefault(key, ttl)
        if first != ttl:  # "TTL set to prior TTL"
            ttl, source, self.ttl = first, "first of RRset block", first
        self.zone.records.append(Record(entry, owner, state.origin, rtype, own, ttl, source, self.next_seq()))

    def owner_of(self, entry: Entry, state: _FileState) -> str | None:
        """The record's owner; a new owner starts a new block (or a glue block under a delegation)."""
        if entry.owner is None:
            last = state.glue or state.current
            return last.name if last else None
        name = absolute(entry.owner.text, state.origin)
        key = name if name is not None else entry.owner.text
        if state.glue is not None and state.glue.owner != key:
            state.glue = None
        if state.glue is None and (state.current is None or state.current.owner != key):
            if state.current is not None and name is not None and name.lower() in state.current.ns_targets:
                state.glue = _Block(key, name)
            else:
                state.current = _Block(key, name)
        return name

    def ttl_for(self, own: int | None, rtype: str, entry: Entry) -> tuple[int | None, str]:
        """The TTL of a record without one of its own: $TTL, else the last stated, else SOA MINIMUM."""
        if own is not None:
            self.ttl, self.ttl_known = own, True
            return own, "explicit"
        if not self.ttl_known and not self.default_known:
            if rtype != "SOA":
                return None, "none"
            minimum = _limit(ttl_value(entry.rdata[6].text)) if len(entry.rdata) > 6 else None
            if minimum is None:
                return None, "none"
            self.ttl = self.default = minimum
            self.default_known = True
            return minimum, "SOA minimum"
        if self.default_known:
            self.ttl = self.default
            return self.default, "$TTL"
        return self.ttl, "previous record"


def _new_blocks(state: _FileState) -> None:
    """What BIND's COMMITALL does to the blocks: same owners, fresh lists."""
    if state.current is not None:
        state.current = _Block(state.current.owner, state.current.name)
    if state.glue is not None:
        state.glue = _Block(state.glue.owner, state.glue.name)


def _last_block_wins(records: list[Record]) -> None:
    """An RRset loaded in several blocks ends up with the TTL of its last block (named-checkzone -D)."""
    last: dict[tuple[str, str], Record] = {}
    for record in records:
        if record.ttl is not None and not record.generated:
            last[record.rrset] = record
    for record in records:
        record.final_from = record.ttl_from
        if record.ttl is not None and not record.generated:
            record.ttl, record.final_from = last[record.rrset].ttl, last[record.rrset].ttl_from


def load(text: str, *, name: str = "zone file", origin: str | None = None,
         includes: Mapping[str, str] | Callable[[str], str | None] | None = None) -> Zone:
    """The zone named would load from `text` (its file name `name`).

    origin: the zone's name (from named.conf) with or without the final dot;
    None leaves names relative until a $ORIGIN says. includes: the files
    named in $INCLUDE, exactly as written there (named opens them relative
    to its working directory, named.conf's `directory`): a dict, or a
    function returning the text or None; None follows no $INCLUDE (see
    Zone.unfollowed()).
    """
    if origin is not None and not is_absolute(origin):
        origin = origin + "."
    zone = Zone(main=name, origin=origin)
    zone.files[name] = parse_file(text, name)
    loader = _Loader(zone, _reader(includes))
    loader.run(zone.files[name], _FileState(origin), 0)
    _last_block_wins(zone.records)
    return zone


# ---- splices -----------------------------------------------------------------------


@dataclass(frozen=True)
class Splice:
    """Replace text[start:end] of one file (start == end inserts)."""

    file: str
    start: int
    end: int
    text: str


def apply_splices(zone: Zone, splices) -> dict[str, str]:
    """{file: new text} for every file the splices change; overlapping edits are refused."""
    by_file: dict[str, list[Splice]] = {}
    for splice in set(splices):
        by_file.setdefault(splice.file, []).append(splice)
    changed = {}
    for name, items in by_file.items():
        text, pieces, position = zone.files[name].text, [], 0
        for splice in sorted(items, key=lambda s: (s.start, s.end)):
            if splice.start < position:
                raise ZoneError(f"{name}: two edits of the same bytes at offset {splice.start}")
            pieces += [text[position:splice.start], splice.text]
            position = splice.end
        pieces.append(text[position:])
        new = "".join(pieces)
        if new != text:
            changed[name] = new
    return changed


def _reload(zone: Zone, changed: Mapping[str, str]) -> Zone:
    texts = {name: zfile.text for name, zfile in zone.files.items()}
    texts.update(changed)
    main = texts.pop(zone.main)
    return load(main, name=zone.main, origin=zone.origin, includes=texts)


def _line_ending(text: str) -> str:
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


# ---- comments that state a TTL ------------------------------------------------------

_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_LONG_UNITS = {"week": 604800, "wk": 604800, "day": 86400, "hour": 3600, "hr": 3600,
               "minute": 60, "min": 60, "second": 1, "sec": 1}
_UNIT_WORDS = "|".join(f"{unit}s?" for unit in sorted(_LONG_UNITS, key=len, reverse=True))
_PIECE = rf"(?:\d+\s*(?:{_UNIT_WORDS})|(?:{'|'.join(_NUMBER_WORDS)})\s+(?:{_UNIT_WORDS})|\d+[wdhms])"
_STATED = re.compile(rf"(?<![A-Za-z0-9.]){_PIECE}(?:(?:\s*,\s*|\s+and\s+|\s*){_PIECE})*(?![A-Za-z0-9])"
                     rf"|(?<![A-Za-z0-9.])\d+(?![A-Za-z0-9]|\.\d)", re.IGNORECASE)
_ONE_PIECE = re.compile(rf"(?:(\d+)([wdhms])|(\d+)\s*({_UNIT_WORDS})|({'|'.join(_NUMBER_WORDS)})\s+({_UNIT_WORDS}))"
                        rf"(?![A-Za-z])", re.IGNORECASE)


def _stated_seconds(phrase: str) -> int:
    if phrase.isdigit():
        return int(phrase)
    total = 0
    for match in _ONE_PIECE.finditer(phrase):
        number, unit = next((match[i], match[i + 1]) for i in (1, 3, 5) if match[i])
        count = int(number) if number.isdigit() else _NUMBER_WORDS[number.lower()]
        unit = unit.lower()
        total += count * (_UNITS[unit] if len(unit) == 1 else _LONG_UNITS[unit.rstrip("s")])
    return total


def _restated(phrase: str, seconds: int) -> str:
    """`seconds` in the style of the phrase it replaces: 3600 -> 300, 1h -> 5m, 1 hour -> 5 minutes."""
    if phrase.isdigit():
        return str(seconds)
    if re.fullmatch(r"(?:\d+[wdhms])+", phrase, re.IGNORECASE):
        short = ttl_text(seconds)
        return short.lower() if phrase == phrase.lower() else short
    return ttl_text(seconds, verbose=True)


def restate_comment(comment: str, old: int, new: int) -> str:
    """The comment with every statement of the old TTL (3600, 1h, "1 hour") replaced by the new one."""
    def replace(match):
        phrase = match.group()
        return _restated(phrase, new) if _stated_seconds(phrase) == old else phrase
    return _STATED.sub(replace, comment)


def _comment_splices(zone: Zone, entry: Entry, token: Token, old: int, new: int) -> list[Splice]:
    """Keep comments true: the comment closing the TTL's own line, and for $TTL a `; ...TTL...` line above."""
    found = [t for t in entry.tokens if t.kind == "comment" and t.start > token.start and t.line == token.line]
    if entry.kind == "directive" and entry.index > 0:
        above = zone.files[entry.file].entries[entry.index - 1]
        comments = [t for t in above.tokens if t.kind == "comment"]
        if above.kind == "blank" and len(comments) == 1 and re.search(r"\bTTL\b", comments[0].text, re.I):
            found += comments
    splices = []
    for comment in found:
        text = restate_comment(comment.text, old, new)
        if text != comment.text:
            splices.append(Splice(entry.file, comment.start, comment.end, text))
    return splices


# ---- TTL edits ----------------------------------------------------------------------


@dataclass(frozen=True)
class TtlChange:
    """One record's TTL before and after a plan (owner absolute when the origin is known)."""

    owner: str
    rtype: str
    before: int | None
    after: int | None
    file: str
    line: int
    reason: str = ""


@dataclass(frozen=True)
class TtlPlan:
    """What a TTL edit does: the new texts and, by record, what changed and what was left above the value.

    files: the new text of each file that changes (the main file and any
    $INCLUDE'd one, by the name written in $INCLUDE); text: the main file
    afterwards; serial: (old, new) when the SOA serial was bumped;
    added_default: a `$TTL` line was put on top of the main file.
    """

    seconds: int
    main: str
    text: str
    files: dict[str, str]
    lowered: tuple[TtlChange, ...] = ()
    raised: tuple[TtlChange, ...] = ()
    left: tuple[TtlChange, ...] = ()
    serial: tuple[int, int] | None = None
    added_default: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.files)


def _require_followed(zone: Zone, what: str) -> None:
    missing = zone.unfollowed()
    if missing:
        d = missing[0]
        raise ZoneError(f"{d.entry.file}: line {d.entry.line}: $INCLUDE {d.target}: not given, so {what} "
                        f"cannot be judged; read it and pass it in includes")


def _ttl_splice(zone: Zone, entry: Entry, token: Token, old: int, new: int) -> list[Splice]:
    return [Splice(entry.file, token.start, token.end, str(new))] + _comment_splices(zone, entry, token, old, new)


def _needs_top_ttl(zone: Zone) -> bool:
    """No $TTL in force for the first record: named falls back to RFC 1035 rules or the SOA MINIMUM."""
    real = [r for r in zone.records if not r.generated] or zone.records
    return not zone.ttls or (bool(real) and real[0].seq < zone.ttls[0].seq)


def _top_ttl(zone: Zone, seconds: int) -> Splice:
    return Splice(zone.main, 0, 0, f"$TTL {seconds}{_line_ending(zone.files[zone.main].text)}")


def _default_splices(zone: Zone, seconds: int, lower_only: bool) -> list[Splice]:
    splices = []
    for directive in zone.ttls:
        if directive.value > seconds or (not lower_only and directive.value != seconds):
            token = directive.entry.rdata[0]
            splices += _ttl_splice(zone, directive.entry, token, directive.value, seconds)
    return splices


def _record_splices(zone: Zone, seconds: int) -> list[Splice]:
    splices = []
    for record in zone.records:
        if record.own_ttl is not None and record.own_ttl > seconds:
            splices += _ttl_splice(zone, record.entry, record.entry.ttl, record.own_ttl, seconds)
    return splices


def _change(before: Record, after: Record, reason: str = "") -> TtlChange:
    return TtlChange(after.name, after.rtype, before.ttl, after.ttl, before.entry.file, before.entry.line, reason)


# TTLs written in the file for the record: on it, on an earlier record of its RRset, or (no $TTL,
# RFC 1035) the last one stated above it. Leaving records leaves these; nothing else stays above.
_OWN = ("explicit", "first of RRset block", "previous record")


def _left_reason(record: Record) -> str:
    if record.final_from == "explicit" and record.own_ttl == record.ttl:
        return "its own TTL"
    if record.final_from == "previous record":
        return "the TTL stated on a record above it (no $TTL: RFC 1035)"
    if record.final_from in _OWN:
        return "the TTL written on its RRset"
    return f"TTL from {record.final_from}"


@dataclass(frozen=True)
class _Trial:
    changed: dict
    after: Zone
    lowered: list
    raised: list
    left: list


def _trial(zone: Zone, splices: list[Splice], seconds: int) -> _Trial:
    changed = apply_splices(zone, splices)
    after = _reload(zone, changed)
    lowered, raised, left = [], [], []
    for old, new in zip(zone.records, after.records):
        if new.ttl is not None and (old.ttl is None or new.ttl < old.ttl):
            lowered.append(_change(old, new))
        elif new.ttl is not None and old.ttl is not None and new.ttl > old.ttl:
            raised.append(_change(old, new))
        if new.ttl is None or new.ttl > seconds:
            left.append(_change(old, new, _left_reason(new)))
    return _Trial(changed, after, lowered, raised, left)


def _acceptable(trial: _Trial, seconds: int, leave: bool) -> bool:
    """Every TTL at most `seconds`, except (leaving records) TTLs written on the records themselves."""
    return all(r.ttl is not None and (r.ttl <= seconds or (leave and r.final_from in _OWN))
               for r in trial.after.records)


def _finish(zone: Zone, trial: _Trial, seconds: int, today, *, added: bool, left: bool) -> TtlPlan:
    changed, serial = trial.changed, None
    if changed and today is not None:
        after = trial.after
        token, file = _serial_token(after)
        serial = (_serial_value(token, file), next_serial(_serial_value(token, file), today))
        changed = dict(changed, **apply_splices(after, [Splice(file, token.start, token.end, str(serial[1]))]))
    return TtlPlan(seconds, zone.main, changed.get(zone.main, zone.files[zone.main].text), changed,
                   tuple(trial.lowered), tuple(trial.raised), tuple(trial.left) if left else (), serial, added)


def _lower_plan(zone: Zone, seconds: int, today, leave: bool) -> TtlPlan:
    """Lower, and put `$TTL` on top only when named would otherwise keep a TTL above `seconds` there."""
    splices = _default_splices(zone, seconds, lower_only=True) + ([] if leave else _record_splices(zone, seconds))
    trial, added = _trial(zone, splices, seconds), False
    if not _acceptable(trial, seconds, leave) and _needs_top_ttl(zone):
        trial, added = _trial(zone, splices + [_top_ttl(zone, seconds)], seconds), True
    if trial.raised:
        r = trial.raised[0]
        raise ZoneError(f"{r.file}: line {r.line}: adding $TTL {seconds} would raise {r.owner} {r.rtype} from "
                        f"{r.before} to {r.after} s (it takes the TTL of the record above it, RFC 1035); add $TTL by hand")
    if not _acceptable(trial, seconds, leave):
        r = next(c for c in trial.left if not leave or c.reason.startswith("TTL from "))
        raise ZoneError(f"{r.file}: line {r.line}: {r.owner} {r.rtype} would keep TTL {r.after}: cannot lower it")
    return _finish(zone, trial, seconds, today, added=added, left=True)


def lower_ttl(text: str, seconds: int, *, today: datetime.date | None = None, leave_records: bool = False,
              origin: str | None = None, includes=None, name: str = "zone file") -> TtlPlan:
    """Bring every TTL of the zone down to `seconds` at most (runbook Z1), judged by value.

    Each $TTL above `seconds` is set to it (`$TTL 1h` is 3600: unchanged for
    3600); each record whose own TTL is larger is lowered, or, with
    leave_records, kept and listed in `.left` by owner and type; a
    `$TTL seconds` line goes on top when named would otherwise take a larger
    TTL from the SOA MINIMUM or from a record above (RFC 1035). The SOA
    MINIMUM itself (negative caching) is not a default TTL and stays. A
    comment stating an old value on an edited line is restated. With
    `today`, a plan that changes anything also bumps the SOA serial. Run
    twice, the second plan changes nothing.
    """
    _check_ttl(seconds)
    zone = load(text, name=name, origin=origin, includes=includes)
    _require_followed(zone, "its TTLs")
    return _lower_plan(zone, seconds, today, leave_records)


def set_default_ttl(text: str, seconds: int, *, today: datetime.date | None = None, origin: str | None = None,
                    includes=None, name: str = "zone file") -> TtlPlan:
    """Set every $TTL to `seconds` (A2 restores the normal value), records' own TTLs untouched.

    A zone with no $TTL in force for its first record gets one as its first
    line (RFC 2308 puts it at the top; without it named falls back to the
    SOA MINIMUM). Judged by value.
    """
    _check_ttl(seconds)
    zone = load(text, name=name, origin=origin, includes=includes)
    _require_followed(zone, "its $TTL")
    splices = _default_splices(zone, seconds, lower_only=False)
    added = _needs_top_ttl(zone)
    trial = _trial(zone, splices + ([_top_ttl(zone, seconds)] if added else []), seconds)
    return _finish(zone, trial, seconds, today, added=added, left=False)


def set_ttl(text: str, ttl: int) -> str:
    """Every $TTL of this file set to `ttl` (keeping comments, restating a stale value); see set_default_ttl."""
    return set_default_ttl(text, ttl).text


def retime(text: str, ttl: int, today: datetime.date, *, name: str = "zone file", includes=None) -> str:
    """$TTL -> ttl, and the SOA serial bumped only when that changed anything (a second run is unchanged)."""
    return set_default_ttl(text, ttl, today=today, name=name, includes=includes).text


def get_ttl(text: str) -> str | None:
    """The value of the first $TTL directive as written (e.g. "3600", "1h")."""
    for entry in parse_file(text).entries:
        if entry.directive == "$TTL" and entry.rdata:
            return entry.rdata[0].text
    return None


def default_ttls(text: str, *, name: str = "zone file", includes=None) -> list[tuple[str, int, int]]:
    """(file, line, seconds) of every $TTL in the order named reads them, included files too."""
    zone = load(text, name=name, includes=includes)
    return [(d.entry.file, d.entry.line, d.value) for d in zone.ttls]


def effective_ttls(text: str, *, origin: str | None = None, name: str = "zone file",
                   includes=None) -> list[tuple[str, str, int | None]]:
    """(owner, type, TTL) of every record, the TTLs `named-checkzone -D` prints."""
    zone = load(text, name=name, origin=origin, includes=includes)
    return [(r.name, r.rtype, r.ttl) for r in zone.records if not r.generated]


# ---- SOA serial ------------------------------------------------------------------------


def _serial_token(zone: Zone) -> tuple[Token, str]:
    soa = zone.soa()
    if soa is None:
        missing = [d.target for d in zone.unfollowed()]
        if missing:
            raise SerialError(f"{zone.main}: no SOA record here; it may be in $INCLUDE {', '.join(missing)}: "
                              f"pass the included files")
        raise SerialError(f"{zone.main}: no SOA record found")
    if len(soa.entry.rdata) < 3:
        raise SerialError(f"{soa.entry.file}: line {soa.entry.line}: the SOA record ends before its serial")
    return soa.entry.rdata[2], soa.entry.file


def _serial_value(token: Token, file: str) -> int:
    if not (token.text.isdigit() and token.text.isascii()):
        raise SerialError(f"{file}: line {token.line}: the SOA serial is not a plain number")
    serial = int(token.text)
    if serial > SERIAL_MAX:
        raise SerialError(f"{file}: line {token.line}: the SOA serial {serial} is larger than {SERIAL_MAX}")
    return serial


def find_serial(text: str, *, name: str = "zone file", includes=None) -> int:
    """The SOA serial, whether the SOA sits on one line, spans several, or lives in an $INCLUDE."""
    return _serial_value(*_serial_token(load(text, name=name, includes=includes)))


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


def bump_zone_serial(text: str, today: datetime.date, *, name: str = "zone file", includes=None) -> dict[str, str]:
    """{file: new text} with only the digits of the SOA serial rewritten, in whichever file holds the SOA."""
    zone = load(text, name=name, includes=includes)
    token, file = _serial_token(zone)
    new = next_serial(_serial_value(token, file), today)
    return apply_splices(zone, [Splice(file, token.start, token.end, str(new))])


def bump_serial(text: str, today: datetime.date, *, name: str = "zone file") -> str:
    """Rewrite only the digits of the SOA serial of this file; every other byte stays.

    A file whose SOA is in an $INCLUDE is refused here: use bump_zone_serial.
    """
    return bump_zone_serial(text, today, name=name).get(name, text)


# ---- which zone a file holds -------------------------------------------------------------


def zone_name_in_file(text: str, *, name: str = "zone file") -> str | None:
    """The zone a file describes, from its SOA owner and $ORIGIN; None when the file does not say.

    Returned without the trailing dot ("localhost", "0.0.127.in-addr.arpa").
    """
    soa = load(text, name=name).soa()
    if soa is None or soa.owner is None:
        return None
    return soa.owner.rstrip(".") or "."


def zone_name(text: str, path: str, named_conf) -> str:
    """The zone name named-checkzone needs: from the file itself, else from named.conf (text or NamedConf)."""
    found = zone_name_in_file(text, name=path)
    if not found and named_conf is not None:
        conf = _namedconf.parse(named_conf) if isinstance(named_conf, str) else named_conf
        declared = conf.zone_for_file(path, basename_fallback=True)
        found = declared.name if declared else None
    if not found:
        raise EditError(
            f"{path}: cannot tell which zone it holds (SOA owner is @, no $ORIGIN, no zone in named.conf names it); "
            f"add `$ORIGIN zone.name.` at its top"
        )
    return found
