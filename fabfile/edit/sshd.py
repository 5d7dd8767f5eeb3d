"""sshd_config as sshd reads it (runbook P1/C1 open root login, P4/C5 restore).

The model follows OpenSSH's servconf.c (9.2 as in Debian 12, 10.0 as in
Debian 13; the parts used here are the same in both):

* A line is split like misc.c's strdelim() (keyword, then blanks or one
  '='), its arguments like argv_split() (quotes, backslash escapes, a word
  starting with '#' ends the line).  Keywords are case-insensitive.
* sshd reads the configuration twice.  Pass 1 (no connection) reads the
  global lines; a Match line is true there only for ``Match all``.  Pass 2,
  for one connection, reads only lines inside Match blocks that match it,
  and every value it finds overrides pass 1.  In each pass the FIRST value
  read wins.
* ``Include`` takes several arguments, each a glob(3) pattern (relative to
  /etc/ssh), expanded in byte order, nested at most 16 deep.  An included
  file starts with the includer's Match state and that state is restored
  after it: a Match block ends at the next Match or at the end of the file
  it started in.  Inside a non-matching Match block an Include's own
  Match lines can never become true.

So the effective value for a connection is the first value pass 2 meets,
else the first value pass 1 meets, else sshd's default.  `resolve` says
where it comes from; `plan_effective` edits that place (or refuses with one
line naming the file, the line and the construct).
"""

from __future__ import annotations

import fnmatch
import socket
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from . import EditError, ensure_final_newline, line_body, split_lines_keepends

SSHDIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16  # servconf.c SERVCONF_MAX_DEPTH
WHITESPACE = " \t\r\n"
DEFAULTS = {"permitrootlogin": "prohibit-password", "usedns": "no"}
# values sshd treats as the same setting (servconf.c multistate tables)
_ALIASES = {"permitrootlogin": {"without-password": "prohibit-password"}}
# keywords whose lines add up instead of "first value wins": no single source
_ACCUMULATING = {
    "acceptenv", "allowgroups", "allowusers", "denygroups", "denyusers", "hostkey",
    "hostcertificate", "listenaddress", "port", "setenv", "subsystem", "permitopen",
    "permitlisten", "include", "match",
}
# keywords not allowed in Match blocks: only pass 1 counts for them
_GLOBAL_ONLY = {"usedns", "port", "listenaddress", "hostkey", "pidfile", "protocol"}


class Undecidable(EditError):
    """A Match block that may or may not apply decides the value: refuse."""


# ---- one line, as misc.c tokenizes it ------------------------------------------


@dataclass(frozen=True)
class Directive:
    """One configuration line: where it is, its keyword, its arguments.

    `spans` are (start, end) offsets of each argument in the line's content
    (quotes included), so an edit rewrites the value and nothing else;
    `start` is where the keyword begins (a '#' goes there to comment it out).
    """

    path: str
    number: int
    keyword: str
    args: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    start: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}"

    @property
    def name(self) -> str:
        return self.keyword.lower()

    @property
    def text(self) -> str:
        return " ".join([self.keyword, *self.args])


def _skip(text: str, pos: int, chars: str = WHITESPACE) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _strdelim(text: str, pos: int | None) -> tuple[str | None, int | None]:
    """misc.c strdelim(): the next token (blanks or ONE '=' end it) and where
    the rest starts; None for sshd's NULL (no rest, or an unmatched quote)."""
    if pos is None:
        return None, None
    end = next((i for i in range(pos, len(text)) if text[i] in WHITESPACE + '"='), None)
    if end is None:
        return text[pos:], None
    if text[end] == '"':
        close = text.find('"', end + 1)
        if close < 0:
            return None, None
        return text[pos:end] + text[end + 1:close], _skip(text, close + 1)
    after = _skip(text, end + 1)
    if text[end] != "=" and after < len(text) and text[after] == "=":
        after = _skip(text, after + 1)
    return text[pos:end], after


def _argv_split(text: str, pos: int) -> list[tuple[str, int, int]]:
    """misc.c argv_split(terminate_on_comment=1): words with their spans."""
    words = []
    while pos < len(text):
        if text[pos] in " \t":
            pos += 1
            continue
        if text[pos] == "#":
            break
        begin, quote, chars = pos, None, []
        while pos < len(text):
            char, following = text[pos], text[pos + 1:pos + 2]
            if char == "\\" and (following in ("'", '"', "\\") or (quote is None and following == " ")):
                pos += 1
                chars.append(following)
            elif quote is None and char in " \t":
                break
            elif quote is None and char in "\"'":
                quote = char
            elif quote is not None and char == quote:
                quote = None
            else:
                chars.append(char)
            pos += 1
        if quote is not None:
            raise ValueError("invalid quotes")
        words.append(("".join(chars), begin, pos))
    return words


def parse_directive(content: str, path: str = "", number: int = 0) -> Directive | None:
    """The directive on one line (no terminator), None for blanks and comments.

    Raises EditError where sshd refuses the line (no argument, bad quotes).
    A line whose keyword opens a quote it never closes is skipped, as sshd does.
    """
    end = len(content)
    while end > 1 and content[end - 1] in WHITESPACE + "\f":
        end -= 1
    text = content[:end]
    start = _skip(text, 0, " \t\r")
    keyword, rest = _strdelim(text, start)
    if keyword == "":
        start = rest if rest is not None else start
        keyword, rest = _strdelim(text, rest)
    if not keyword or keyword.startswith("#"):
        return None
    if rest is None or rest >= len(text):
        raise EditError(f'{path}:{number}: no argument after keyword "{keyword}" (sshd refuses the file)')
    try:
        words = _argv_split(text, rest)
    except ValueError:
        raise EditError(f"{path}:{number}: invalid quotes (sshd refuses the file)") from None
    return Directive(path, number, keyword, tuple(w for w, _, _ in words), tuple((b, e) for _, b, e in words), start)


def directives(text: str, path: str = "") -> list[tuple[int, Directive | None]]:
    """(line index, directive or None) for every line of a file."""
    lines = split_lines_keepends(text)
    return [(index, parse_directive(line_body(line)[0], path, index + 1)) for index, line in enumerate(lines)]


# ---- Match criteria (match.c, addrmatch.c, servconf.c match_cfg_line) ----------


def match_pattern(string: str, pattern: str) -> bool:
    """match.c match_pattern(): '*' any run, '?' one character, else literal."""
    if not pattern:
        return not string
    if pattern[0] == "*":
        rest = pattern.lstrip("*")
        return not rest or any(match_pattern(string[i:], rest) for i in range(len(string) + 1))
    if not string or (pattern[0] != "?" and pattern[0] != string[0]):
        return False
    return match_pattern(string[1:], pattern[1:])


def match_pattern_list(string: str, patterns: str, dolower: bool = False) -> int:
    """match.c match_pattern_list(): 1 positive, -1 negated match, 0 none.

    With dolower the *patterns* are lowercased (not the string), as sshd does
    for host names.
    """
    positive = 0
    for sub in patterns.split(","):
        negated = sub.startswith("!")
        sub = sub[1:] if negated else sub
        if len(sub) >= 1023:
            return 0
        if match_pattern(string, sub.lower() if dolower else sub):
            if negated:
                return -1
            positive = 1
    return positive


def _addr(text: str) -> tuple[int, bytes] | None:
    """addr.c addr_pton(): getaddrinfo(AI_NUMERICHOST), as sshd parses it
    (so "10.1" is 10.0.0.1); an address with a %scope is refused."""
    if "%" in text:
        raise EditError(f"address with a scope ({text}) in a Match line is not supported")
    try:
        info = socket.getaddrinfo(text, None, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    family, _, _, _, sockaddr = info[0]
    return family, socket.inet_pton(family, sockaddr[0])


def _cidr(entry: str) -> tuple[int, bytes, int] | int:
    """addr.c addr_pton_cidr(): (family, bytes, masklen), -1 not an address, -2 bad mask."""
    base, slash, mask = entry.partition("/")
    if slash and (not mask[:1].isdigit() or not mask.isdigit() or int(mask) > 128):
        return -1
    parsed = _addr(base) if len(entry) < 64 else None
    if parsed is None:
        return -1
    family, raw = parsed
    bits = len(raw) * 8
    length = int(mask) if slash else bits
    if length > bits or int.from_bytes(raw, "big") & ((1 << (bits - length)) - 1):
        return -2
    return family, raw, length


def _netmatch(addr: tuple[int, bytes], net: tuple[int, bytes, int]) -> bool:
    if addr[0] != net[0]:
        return False
    bits = len(addr[1]) * 8
    shift = bits - net[2]
    return int.from_bytes(addr[1], "big") >> shift == int.from_bytes(net[1], "big") >> shift


def addr_match_list(addr: str | None, patterns: str) -> int:
    """addrmatch.c addr_match_list(): 1 match, -1 negated match, 0 none, -2 bad list.

    CIDR entries first; an entry that is no address is a wildcard pattern
    on the address text.  addr None only checks the list (pass 1).
    """
    parsed = _addr(addr) if addr is not None else None
    if addr is not None and parsed is None:
        return 0
    result = 0
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        entry = entry[1:] if negated else entry
        if not entry:
            return -2
        net = _cidr(entry)
        if net == -2:
            return -2
        hit = addr is not None and (_netmatch(parsed, net) if isinstance(net, tuple) else match_pattern(addr, entry))
        if hit and negated:
            return -1
        result = 1 if hit else result
    return result


@dataclass(frozen=True)
class Connection:
    """One connection as sshd's Match sees it (servconf.h connection_info).

    `host` is what sshd compares `Match Host` with: the address itself unless
    UseDNS is yes (`peer` works that out).  `groups` are the user's group
    names, needed only for `Match Group`.  A field left None is unknown: a
    criterion on it is undecidable, except with test=True, which mirrors
    `sshd -T -C` (there an unknown user, host, addr, laddr or rdomain does
    not match, and an unknown lport makes sshd refuse).
    """

    user: str | None
    host: str | None
    addr: str | None
    laddr: str | None = None
    lport: int | None = None
    rdomain: str | None = None
    groups: tuple[str, ...] | None = None
    user_invalid: bool | None = None
    test: bool = False

    def spec(self) -> str:
        """The `sshd -T -C` argument that reproduces this connection."""
        fields = [("user", self.user), ("host", self.host), ("addr", self.addr), ("laddr", self.laddr),
                  ("lport", self.lport), ("rdomain", self.rdomain)]
        return ",".join(f"{key}={value}" for key, value in fields if value is not None)

    def label(self) -> str:
        return f"{self.user}@{self.host or '?'} ({self.addr or '?'})"


def _missing(connection: Connection, attribute: str, directive: Directive) -> bool | None:
    """An unknown field: no match under sshd -T, undecidable otherwise."""
    if connection.test and attribute == "LocalPort":
        raise EditError(f"{directive.where}: Match LocalPort needs the connection's local port (sshd -T refuses without lport)")
    return False if connection.test else None


def _group_match(groups: tuple[str, ...], patterns: str) -> bool:
    """groupaccess.c ga_match_pattern_list(): any group matches, a negated one vetoes."""
    found = False
    for group in groups:
        result = match_pattern_list(group, patterns)
        if result == -1:
            return False
        found = found or result == 1
    return found


def _address_criterion(value: str | None, patterns: str, directive: Directive) -> bool:
    result = addr_match_list(value, patterns)
    if result == -2:
        raise EditError(f"{directive.where}: invalid Match address list '{patterns}' (sshd refuses the file)")
    return result == 1


def _check_criterion(name: str, argument: str | None, directive: Directive) -> None:
    """What sshd refuses in the file whatever the connection (a bad address list, a LocalPort not a number)."""
    if name in ("address", "localaddress"):
        _address_criterion(None, argument, directive)
    if name == "localport" and not (argument.isdigit() and int(argument) <= 65535):
        raise EditError(f"{directive.where}: Match LocalPort '{argument}' is not a port number "
                        f"(service names are not resolved here)")


# criterion -> (the connection's field it reads, how a known value is matched)
_MATCHERS = {
    "user": ("user", lambda conn, arg, d: match_pattern_list(conn.user, arg) == 1),
    "group": ("user", lambda conn, arg, d: None if conn.groups is None else _group_match(conn.groups, arg)),
    "host": ("host", lambda conn, arg, d: match_pattern_list(conn.host, arg, dolower=True) == 1),
    "address": ("addr", lambda conn, arg, d: _address_criterion(conn.addr, arg, d)),
    "localaddress": ("laddr", lambda conn, arg, d: _address_criterion(conn.laddr, arg, d)),
    "localport": ("lport", lambda conn, arg, d: int(arg) == conn.lport),
    "rdomain": ("rdomain", lambda conn, arg, d: match_pattern_list(conn.rdomain, arg) == 1),
}


def _criterion(attribute: str, argument: str | None, conn: Connection | None, directive: Directive,
               release: str | None) -> bool | None:
    """One Match criterion for one connection (None: cannot be decided here)."""
    name = attribute.lower()
    _check_criterion(name, argument, directive)
    if conn is None:
        return False
    if name == "invalid-user":
        return _missing(conn, "invalid-user", directive) if conn.user_invalid is None else conn.user_invalid
    if name == "version":
        return None if release is None else match_pattern_list(release, argument) == 1
    field, matches = _MATCHERS[name]
    if getattr(conn, field) is None:
        return _missing(conn, {"localport": "LocalPort"}.get(name, name), directive)
    return matches(conn, argument, directive)


_WITH_ARGUMENT = ("user", "group", "host", "address", "localaddress", "localport", "rdomain", "version")


def _criteria(directive: Directive) -> list[tuple[str, str | None]]:
    """(attribute, argument) pairs of a Match line; `attr=value` is one word."""
    words, pairs = list(directive.args), []
    while words:
        word = words.pop(0)
        attribute, equals, argument = word.partition("=")
        if word.lower() in ("all", "invalid-user"):
            pairs.append((word, None))
            continue
        if attribute.lower() not in _WITH_ARGUMENT:
            raise EditError(f"{directive.where}: unsupported Match attribute {attribute} (sshd refuses the file)")
        if not equals:
            argument = words.pop(0) if words else ""
        if not argument:
            raise EditError(f"{directive.where}: missing Match criteria for {attribute} (sshd refuses the file)")
        pairs.append((attribute, argument))
    return pairs


def _and(*values: bool | None) -> bool | None:
    """Three-valued AND: False wins, then unknown."""
    if any(value is False for value in values):
        return False
    return None if any(value is None for value in values) else True


def match_line(directive: Directive, conn: Connection | None, release: str | None = None) -> bool | None:
    """servconf.c match_cfg_line(): does this Match line hold for conn?

    conn None is sshd's first pass: only `Match all` holds there.
    """
    pairs = _criteria(directive)
    if any(attribute.lower() == "all" for attribute, _ in pairs):
        if len(pairs) > 1:
            raise EditError(f"{directive.where}: 'all' cannot be combined with other Match attributes (sshd refuses the file)")
        return True
    return _and(*[_criterion(attribute, argument, conn, directive, release) for attribute, argument in pairs])


# ---- the files sshd reads -----------------------------------------------------------


def include_patterns(directive: Directive) -> list[str]:
    """An Include line's patterns made absolute as sshd does (relative to /etc/ssh)."""
    return [arg if arg.startswith(("/", "~")) else f"{SSHDIR}/{arg}" for arg in directive.args]


def _glob_part(name: str, pattern: str) -> bool:
    """One path component under glob(3): a leading '.' must be matched literally."""
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def glob_paths(pattern: str, paths: Iterable[str]) -> list[str]:
    """glob(3) of `pattern` over known file paths, sorted as glob sorts (byte order)."""
    if "\\" in pattern:
        raise EditError(f"Include pattern with a backslash is not supported: {pattern}")
    parts = pattern.split("/")
    found = []
    for path in paths:
        names = path.split("/")
        if len(names) == len(parts) and all(_glob_part(n, p) for n, p in zip(names, parts)):
            found.append(path)
    return sorted(found, key=lambda path: path.encode("utf-8", "surrogateescape"))


class SshdConfig:
    """The files of one sshd configuration as data: texts and Include expansions.

    `files` maps each path sshd reads to its text; `expansions` maps each
    absolute Include pattern to the files glob(3) gave for it, in order.
    `release` (e.g. "OpenSSH_9.2p1") only serves `Match Version`.
    """

    def __init__(self, main: str, files: Mapping[str, str], expansions: Mapping[str, list[str]], release: str | None = None):
        self.main, self.files, self.expansions, self.release = main, dict(files), dict(expansions), release
        self._parsed: dict[str, list[tuple[int, Directive | None]]] = {}

    def directives(self, path: str) -> list[tuple[int, Directive | None]]:
        if path not in self._parsed:
            self._parsed[path] = directives(self.files[path], path)
        return self._parsed[path]

    def with_texts(self, changes: Mapping[str, str]) -> "SshdConfig":
        """The same files with some texts replaced (edits add no Include, so expansions stay)."""
        return SshdConfig(self.main, {**self.files, **changes}, self.expansions, self.release)


def _too_deep(path: str) -> EditError:
    return EditError(f"{path}: Include nested deeper than {MAX_INCLUDE_DEPTH} (sshd: Too many recursive configuration includes)")


def load(main: str, read: Callable[[str], str], expand: Callable[[str], list[str]], release: str | None = None) -> SshdConfig:
    """Read the main file and everything it includes, the way sshd finds them.

    `read(path)` returns a file's text; `expand(pattern)` the paths glob(3)
    gives for an absolute pattern (the host layer runs these on the host).
    """
    files: dict[str, str] = {}
    expansions: dict[str, list[str]] = {}

    def visit(path: str, stack: tuple[str, ...]) -> None:
        if len(stack) > MAX_INCLUDE_DEPTH + 1:
            raise _too_deep(path)
        if path in stack[:-1]:
            raise EditError(f"{path}: includes itself (via {' -> '.join(stack)}); sshd would recurse until it fails")
        if path not in files:
            files[path] = read(path)
        for _, directive in directives(files[path], path):
            if directive is None or directive.name != "include":
                continue
            for pattern in include_patterns(directive):
                if pattern not in expansions:
                    expansions[pattern] = sorted(expand(pattern), key=_bytes)
                for child in expansions[pattern]:
                    visit(child, stack + (child,))

    visit(main, (main,))
    return SshdConfig(main, files, expansions, release)


def _bytes(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def from_files(files: Mapping[str, str], main: str = f"{SSHDIR}/sshd_config", release: str | None = None) -> SshdConfig:
    """A configuration from {path: text} alone: Include globs are matched against the paths given."""

    def read(path: str) -> str:
        if path not in files:
            raise EditError(f"{path}: file not given")
        return files[path]

    return load(main, read, lambda pattern: glob_paths(pattern, files), release)


# ---- sshd's two passes ------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One directive as a pass meets it: active True/False/None (unknown), and the Match it sits in."""

    directive: Directive
    active: bool | None
    match: Directive | None


class _Pass:
    """One reading of the configuration: pass 1 (conn None) or pass 2 for conn.

    `active` is servconf.c's *activep, shared by a file and what it includes;
    `gate` is False where sshd passes SSHCFG_NEVERMATCH (an Include inside a
    non-matching Match), None where that is unknown; `match_only` is
    SSHCFG_MATCH_ONLY (pass 2 before a file's first Match).
    """

    def __init__(self, config: SshdConfig, conn: Connection | None):
        self.config, self.conn = config, conn
        self.active: bool | None = conn is None
        self.match: Directive | None = None

    def events(self) -> Iterator[Event]:
        yield from self._file(self.config.main, True, self.conn is not None, 0)

    def _file(self, path: str, gate: bool | None, match_only: bool, depth: int) -> Iterator[Event]:
        if depth > MAX_INCLUDE_DEPTH:
            raise _too_deep(path)
        for _, directive in self.config.directives(path):
            if directive is None:
                continue
            if directive.name == "match":
                value = match_line(directive, self.conn if gate is not False else None, self.config.release)
                self.active, self.match, match_only = _and(gate, value), directive, False
            yield Event(directive, self.active, self.match)
            if directive.name == "include":
                yield from self._include(directive, True if match_only else self.active, match_only, depth)

    def _include(self, directive: Directive, gate: bool | None, match_only: bool, depth: int) -> Iterator[Event]:
        saved = self.active, self.match
        for pattern in include_patterns(directive):
            for child in self.config.expansions.get(pattern, []):
                yield from self._file(child, gate, match_only, depth + 1)
                self.active, self.match = saved


@dataclass(frozen=True)
class Setting:
    """Where the effective value comes from: a line, and the Match block it sits in (None: global)."""

    directive: Directive
    match: Directive | None

    @property
    def value(self) -> str:
        return self.directive.args[0]

    @property
    def path(self) -> str:
        return self.directive.path

    def describe(self) -> str:
        scope = f"inside 'Match {' '.join(self.match.args)}' at {self.match.where}" if self.match else "global"
        return f"{self.directive.keyword} {self.value} from {self.directive.where} ({scope})"


@dataclass(frozen=True)
class Default:
    """Nothing sets the keyword: sshd's built-in value (None when this module does not know it)."""

    keyword: str
    value: str | None

    def describe(self) -> str:
        return f"{self.keyword} {self.value or '(built-in default)'}: set nowhere, sshd's default"


def _undecidable(event: Event, conn: Connection) -> Undecidable:
    construct = f"'Match {' '.join(event.match.args)}' at {event.match.where}" if event.match else "a Match block"
    return Undecidable(
        f"{event.directive.where}: {event.directive.keyword} sits inside {construct}, which cannot be decided "
        f"for {conn.label()} here (Group needs the user's groups, unknown fields need values); edit by hand"
    )


def _first(events: Iterable[Event], name: str, conn: Connection | None) -> Setting | None:
    """The first line for `name` that is active; refuse if an undecidable one comes before it."""
    unsure = None
    for event in events:
        if event.directive.name != name or event.active is False:
            continue
        if event.active is None:
            unsure = unsure or event
            continue
        if unsure is not None:
            raise _undecidable(unsure, conn)
        if not event.directive.args:
            raise EditError(f"{event.directive.where}: {event.directive.keyword} without a value (sshd refuses the file)")
        return Setting(event.directive, event.match)
    if unsure is not None:
        raise _undecidable(unsure, conn)
    return None


def _check_keyword(keyword: str) -> None:
    """A keyword with blanks or '=' would silently write a different option."""
    if not keyword or any(char in keyword for char in WHITESPACE + '=#"'):
        raise EditError(f"not an sshd_config keyword: {keyword!r}")
    if keyword.lower() in ("match", "include"):
        raise EditError(f"{keyword} lines are not options; edit them by hand")


def resolve(config: SshdConfig, keyword: str, conn: Connection) -> Setting | Default:
    """Where sshd takes `keyword`'s value from for `conn` (first value wins).

    Pass 2 (the Match blocks that hold for conn) first, then pass 1 (global
    lines, and `Match all` blocks), then the default.  Raises Undecidable
    when a Match block that cannot be decided here could set it first, and
    EditError for what sshd itself refuses (bad Match line, loops, depth).
    """
    _check_keyword(keyword)
    name = keyword.lower()
    if name in _ACCUMULATING:
        raise EditError(f"{keyword}: its lines add up in sshd, there is no single line to edit")
    first_pass = _first(list(_Pass(config, None).events()), name, conn)
    if name not in _GLOBAL_ONLY:
        found = _first(list(_Pass(config, conn).events()), name, conn)
        if found is not None:
            return found
    return first_pass or Default(keyword, DEFAULTS.get(name))


def canonical(keyword: str, value: str | None) -> str | None:
    """A value as sshd understands it: case-insensitive words, aliases folded
    (sshd -T prints prohibit-password as "without-password")."""
    if value is None:
        return None
    folded = value.lower()
    return _ALIASES.get(keyword.lower(), {}).get(folded, folded)


def effective(config: SshdConfig, keyword: str, conn: Connection) -> str | None:
    """The value sshd uses for conn, canonical (None: an unknown default)."""
    return canonical(keyword, resolve(config, keyword, conn).value)


def peer(config: SshdConfig, user: str, name: str, addr: str, laddr: str | None = None, lport: int | None = None,
         groups: tuple[str, ...] | None = None) -> Connection:
    """A real connection from `addr` (reverse name `name`): sshd matches Host
    against the address itself unless UseDNS is yes (auth.c)."""
    usedns = effective(config, "UseDNS", Connection(user, None, addr, laddr, lport, groups=groups))
    return Connection(user, name if usedns == "yes" else addr, addr, laddr, lport, groups=groups, user_invalid=False)


# ---- planning an edit -------------------------------------------------------------------


def _check_value(value: str) -> str:
    """One line of plain words: quotes, escapes or '#' would be read differently by sshd."""
    if "\n" in value or "\r" in value or not value.strip():
        raise EditError("an sshd_config value must be one non-empty line")
    value = value.strip()
    try:
        words = [word for word, _, _ in _argv_split(value, 0)]
    except ValueError:
        words = []
    if words != value.split():
        raise EditError(f"value {value!r} has quotes, escapes or '#': sshd would read something else")
    return value


def _replace_line(text: str, directive: Directive, new_content: Callable[[str], str]) -> str:
    lines = split_lines_keepends(text)
    content, ending = line_body(lines[directive.number - 1])
    lines[directive.number - 1] = new_content(content) + ending
    return "".join(lines)


def _rewrite(text: str, directive: Directive, value: str) -> str:
    """The directive's arguments replaced by value; keyword, '=', comment and spacing kept."""
    start, end = directive.spans[0][0], directive.spans[-1][1]
    return _replace_line(text, directive, lambda content: content[:start] + value + content[end:])


def _comment(text: str, directive: Directive) -> str:
    """A '#' right before the keyword, so uncomment() can restore the line exactly."""
    return _replace_line(text, directive, lambda content: content[:directive.start] + "#" + content[directive.start:])


def _insert_first(text: str, path: str, new_line: str) -> str:
    """new_line before the file's first Include or Match (read before any drop-in,
    never inside a Match block), or at the end when it has neither."""
    lines = split_lines_keepends(text)
    index = next((i for i, d in directives(text, path) if d is not None and d.name in ("include", "match")), None)
    if index is None:
        ending = "\r\n" if lines and lines[-1].endswith("\r\n") else "\n"
        return ensure_final_newline(text) + new_line + ending
    lines.insert(index, new_line + ("\r\n" if lines[index].endswith("\r\n") else "\n"))
    return "".join(lines)


def _same(directive: Directive, wanted: Directive) -> bool:
    """Equal as sshd reads them: keyword case, '=' vs blank, quoting and value case aside."""
    def key(d: Directive) -> list:
        return [d.name] + [canonical(d.keyword, arg) for arg in d.args]

    return key(directive) == key(wanted)


def _spec(line: str) -> Directive:
    try:
        wanted = parse_directive(line.strip())
    except EditError:
        wanted = None
    if wanted is None or "\n" in line.strip():
        raise EditError(f"not an sshd_config directive: {line!r}")
    return wanted


def _applying(config: SshdConfig, conn: Connection) -> list[Directive]:
    """Lines that apply to conn: global lines, and lines of Match blocks that hold for it."""
    seen, found = set(), []
    for current in (None, conn):
        for event in _Pass(config, current).events():
            key = (event.directive.path, event.directive.number)
            if event.active is True and key not in seen:
                seen.add(key)
                found.append(event.directive)
    return found


def _check_editable(directive_or_path, allowed: Callable[[str], bool], what: str) -> None:
    path = getattr(directive_or_path, "path", directive_or_path)
    if not allowed(path):
        where = getattr(directive_or_path, "where", path)
        raise EditError(f"{where}: {what}, but this step may not edit {path}; change it by hand")


def _comment_out_lines(config: SshdConfig, specs: Iterable[str], conn: Connection, allowed: Callable[[str], bool],
                       keyword: str, wanted: str) -> dict[str, str]:
    """Texts with every line equal to a spec commented out where it applies to conn."""
    texts = dict(config.files)
    for spec in specs:
        target = _spec(spec)
        if target.name in ("include", "match"):
            raise EditError(f"comment_out may not name an {target.keyword} line ({spec.strip()}): it changes what sshd reads")
        if target.name == keyword.lower() and [canonical(keyword, a) for a in target.args] == [wanted]:
            raise EditError(f"comment_out names the wanted line itself ({spec.strip()}): the plan would undo itself")
        for directive in _applying(config, conn):
            if _same(directive, target):
                _check_editable(directive, allowed, f"{directive.text} would be commented out")
                texts[directive.path] = _comment(texts[directive.path], directive)
    return texts


def plan_effective(config: SshdConfig, keyword: str, value: str, conn: Connection, comment_out: Iterable[str] = (),
                   editable: Callable[[str], bool] | None = None) -> dict[str, str]:
    """{path: new text} for the files to change so sshd uses `value` for `keyword` on `conn`.

    First the `comment_out` lines (e.g. "PermitRootLogin forced-commands-only")
    that apply to conn are commented out.  Then, if the effective value is
    still another one, the line it comes from is rewritten (a drop-in, the
    main file, a Match block that holds for conn); if nothing sets it, a
    line goes into the main file before its first Include or Match, where
    pass 1 reads it before anything else.  Only changed files are returned;
    planning again on the result returns {}.  Refuses (EditError, one line)
    on an undecidable Match, a file `editable(path)` rejects, or anything
    sshd itself refuses.

    Guarantee for any other connection C': its value changes only if, before
    the plan, it came from a line the plan rewrote (C' then gets `value`
    too), from a line the plan commented out (C' falls through to its next
    line), or from the default when the plan inserted a global line (C'
    then gets `value`).  Match and Include lines are never touched, so which
    blocks apply to whom stays the same.
    """
    _check_keyword(keyword)
    value = _check_value(value)
    wanted, allowed = canonical(keyword, value), editable or (lambda path: True)
    texts = _comment_out_lines(config, comment_out, conn, allowed, keyword, wanted)
    source = resolve(config.with_texts(texts), keyword, conn)
    if canonical(keyword, source.value) != wanted:
        if isinstance(source, Default):
            _check_editable(config.main, allowed, f"{keyword} is set nowhere and goes into the main file")
            texts[config.main] = _insert_first(texts[config.main], config.main, f"{keyword} {value}")
        else:
            _check_editable(source.directive, allowed, f"{source.describe()} decides it")
            texts[source.path] = _rewrite(texts[source.path], source.directive, value)
    after = resolve(config.with_texts(texts), keyword, conn)
    if canonical(keyword, after.value) != wanted:
        raise EditError(f"{keyword} {value} could not be made effective for {conn.label()}: {after.describe()}")
    return {path: text for path, text in texts.items() if text != config.files[path]}


def revert(before: Mapping[str, str], applied: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """{path: text} that undoes an applied plan (P4/C5): each planned file back as it was, nothing else.

    `before` holds the planned files' texts before the plan, `applied` the
    plan itself, `current` the files now.  A file that changed since the
    plan was applied is refused: someone else edited it, and restoring
    would undo that too.  A file already back as it was is left out.
    """
    undo = {}
    for path, text in applied.items():
        if current.get(path) == before[path]:
            continue
        if current.get(path) != text:
            raise EditError(f"{path}: changed since root login was opened; restore it by hand (the backup holds the old text)")
        undo[path] = before[path]
    return undo


def parse_sshd_t(output: str) -> dict[str, str]:
    """`sshd -T` output as {keyword: first value line}, keywords lowercase as sshd prints them."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            values.setdefault(keyword.lower(), value)
    return values


def explain(config: SshdConfig, keyword: str, conn: Connection) -> str:
    """One line for the operator: the value for conn and where it comes from."""
    return f"{conn.label()}: {resolve(config, keyword, conn).describe()}"


# ---- one file, global part only (kept for callers that edit a single file) ----------------


def _global_directives(text: str) -> tuple[list[Directive], int | None]:
    """Directives before the first Match line of one text, and that line's index."""
    found = []
    for index, directive in directives(text):
        if directive is None:
            continue
        if directive.name == "match":
            return found, index
        found.append(directive)
    return found, None


def get_option(text: str, keyword: str) -> str | None:
    """The first global value for keyword in this one text (Includes not followed)."""
    _check_keyword(keyword)
    for directive in _global_directives(text)[0]:
        if directive.name == keyword.lower():
            return " ".join(directive.args)
    return None


def set_option(text: str, keyword: str, value: str) -> str:
    """Make this one text's first global line for keyword say value.

    The first global occurrence gets the value (keyword spelling, '=' and
    comment kept); without one, the line goes before the first Include or
    Match.  For a configuration with Include use plan_effective: a drop-in
    read earlier may still win over this file.
    """
    _check_keyword(keyword)
    value = _check_value(value)
    for directive in _global_directives(text)[0]:
        if directive.name == keyword.lower():
            if [canonical(keyword, a) for a in directive.args] == [canonical(keyword, w) for w in value.split()]:
                return text
            return _rewrite(text, directive, value)
    return _insert_first(text, "", f"{keyword} {value}")


def comment_out(text: str, line: str) -> str:
    """Comment out this text's global lines saying `line` (e.g. a forced-commands-only).

    A '#' goes right before the keyword, so uncomment() can restore it exactly.
    """
    wanted = _spec(line)
    for directive in _global_directives(text)[0]:
        if _same(directive, wanted):
            text = _comment(text, directive)
    return text


def uncomment(text: str, line: str) -> str:
    """Undo comment_out: restore '#'-commented global lines saying `line`.

    Only a single '#' directly before the directive is removed, so ordinary
    prose comments mentioning the option stay as they are.
    """
    wanted = _spec(line)
    lines = split_lines_keepends(text)
    _, match_index = _global_directives(text)
    for index in range(len(lines) if match_index is None else match_index):
        content, ending = line_body(lines[index])
        stripped = content.lstrip(" \t")
        if not stripped.startswith("#") or stripped.startswith("##"):
            continue
        indent = content[: len(content) - len(stripped)]
        try:
            candidate = parse_directive(indent + stripped[1:])
        except EditError:
            continue
        if candidate is not None and _same(candidate, wanted):
            lines[index] = indent + stripped[1:] + ending
    return "".join(lines)
