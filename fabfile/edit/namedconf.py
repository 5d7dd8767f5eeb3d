"""named.conf as BIND parses it: statements, blocks, includes, and the zones it declares.

The zone editors need one fact from here: which zone a zone file holds
(named-checkzone needs the name, and a file whose SOA owner is `@` does not
say it). The grammar is BIND's (lib/isccfg/parser.c): `/* */`, `//` and
`#` comments; quoted strings with `\\` escapes, possibly over several lines;
`{ ... };` blocks; every statement ends with `;`; `include "file";` wherever
a statement can stand, a glob pattern allowed (BIND 9.18 expands it with
glob(3), sorted; no match is an error).

Paths are the ones named opens, relative to its working directory:

- named (and named-checkconf) chdir into `options { directory "..." }` the
  moment that clause is parsed, so an `include` written before it resolves
  against the directory named was started in (`start_dir`: "/" under
  systemd or init, and for `named-checkconf -t ROOT`), one after it against
  `directory`. (On `rndc reload` named is already in `directory`, so a
  relative include placed before the options resolves differently then:
  NamedConf.warnings says so.)
- zone `file` paths are opened when the zones load, after the whole file
  is parsed: relative to the last `directory`.

Included files are read through the caller's `read` (a dict of path ->
text, or a function returning the text or None); with read=None includes
are listed but not followed.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from . import EditError

MAX_INCLUDE_DEPTH = 16
_GLOB = re.compile(r"[*?\[]")

_LEX = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<comment>/\*[\s\S]*?\*/|//[^\n]*|\#[^\n]*)"
    r'|(?P<string>"(?:[^"\\]|\\[\s\S])*")'
    r"|(?P<special>[{};!/])"
    r'|(?P<word>[^\s{};!/"#]+)'
)


@dataclass(frozen=True)
class Token:
    kind: str  # space, comment, string, special, word
    text: str
    start: int
    line: int

    @property
    def value(self) -> str:
        """A string's contents (escapes resolved), a word as written."""
        if self.kind != "string":
            return self.text
        return re.sub(r"\\(.)", r"\1", self.text[1:-1], flags=re.DOTALL)


def tokenize(text: str, path: str = "named.conf") -> list[Token]:
    """BIND's configuration tokens; an unclosed comment or string is refused."""
    tokens, position, line = [], 0, 1
    while position < len(text):
        if text.startswith("/*", position) and text.find("*/", position + 2) < 0:
            raise EditError(f"{path}: line {line}: '/*' comment is never closed")
        match = _LEX.match(text, position)
        if match is None:
            raise EditError(f"{path}: line {line}: quoted string is never closed")
        tokens.append(Token(match.lastgroup, match.group(), position, line))
        line += match.group().count("\n")
        position = match.end()
    return tokens


@dataclass(eq=False)
class Statement:
    """One statement: its words and blocks in order, where it was read."""

    source: str
    line: int
    items: list  # Token or list[Statement] (a block)

    @property
    def keyword(self) -> str:
        first = self.items[0] if self.items else None
        return first.value.lower() if isinstance(first, Token) else ""

    @property
    def words(self) -> list[Token]:
        return [item for item in self.items if isinstance(item, Token)]

    @property
    def block(self) -> list[Statement]:
        return next((item for item in self.items if isinstance(item, list)), [])


@dataclass(frozen=True)
class ZoneDecl:
    """A `zone` statement: name (no final dot), class, type, file as written and as named opens it."""

    name: str
    rclass: str
    type: str | None
    file: str | None
    path: str | None
    source: str
    line: int
    view: str | None = None


@dataclass(frozen=True)
class IncludeDecl:
    source: str
    line: int
    written: str
    paths: tuple[str, ...]
    followed: bool


@dataclass(eq=False)
class NamedConf:
    """A parsed named.conf with what it includes, in the order named reads it."""

    path: str
    statements: list[Statement] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    includes: list[IncludeDecl] = field(default_factory=list)
    zones: list[ZoneDecl] = field(default_factory=list)
    directory: str | None = None  # as written
    cwd: str = "/"  # named's working directory once the file is parsed
    warnings: list[str] = field(default_factory=list)

    def zones_for_file(self, path: str, *, basename_fallback: bool = False) -> list[ZoneDecl]:
        """The zones whose file named opens at `path`; with basename_fallback, else the one zone
        whose file has the same name (for a named.conf read under another root)."""
        wanted = posixpath.normpath(path)
        found = [z for z in self.zones if z.path and posixpath.normpath(z.path) == wanted]
        if not found and basename_fallback:
            same = [z for z in self.zones if z.file and posixpath.basename(z.file) == posixpath.basename(path)]
            found = same if len(same) == 1 else []
        return found

    def zone_for_file(self, path: str, *, basename_fallback: bool = False) -> ZoneDecl | None:
        """The zone held in `path`; refused when named.conf gives the file to two different zones."""
        found = self.zones_for_file(path, basename_fallback=basename_fallback)
        names = sorted({z.name.lower() for z in found})
        if len(names) > 1:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            raise EditError(f"{path}: named.conf gives this file to {len(names)} zones ({shown}): "
                            f"an edit would change them all; edit a copy of its own")
        return found[0] if found else None


def _reader(read) -> Callable[[str], str | None] | None:
    if read is None or callable(read):
        return read
    return read.get


def _glob_in(paths, pattern: str) -> list[str]:
    """glob(3) over known paths: `*` and `?` stay inside one path component."""
    parts = pattern.split("/")
    found = []
    for path in paths:
        names = path.split("/")
        if len(names) == len(parts) and all(fnmatch.fnmatchcase(n, p) and not (n.startswith(".") and not p.startswith("."))
                                            for n, p in zip(names, parts)):
            found.append(path)
    return sorted(found)


class _Parser:
    """Reads statements in BIND's order, following includes and the `directory` chdir as it goes."""

    def __init__(self, conf: NamedConf, read, glob, start_dir: str):
        self.conf, self.read, self.glob = conf, _reader(read), glob
        self.paths = list(read) if isinstance(read, Mapping) else None
        self.conf.cwd = start_dir
        self.seen_directory = False

    def file(self, text: str, path: str, depth: int, context: tuple[str, ...]) -> list[Statement]:
        self.conf.files.setdefault(path, text)
        tokens = [t for t in tokenize(text, path) if t.kind not in ("space", "comment")]
        statements, position = self.statements(tokens, 0, path, depth, context)
        if position < len(tokens):
            raise EditError(f"{path}: line {tokens[position].line}: '}}' without '{{'")
        return statements

    def statements(self, tokens, position, path, depth, context):
        """Statements until a closing brace (returned position points at it) or the end."""
        out = []
        while position < len(tokens) and tokens[position].text != "}":
            statement, position = self.statement(tokens, position, path, depth, context)
            if statement.keyword == "include" and statement.items[0].kind == "word":
                out += self.include(statement, depth, context)
                continue
            out.append(statement)
            self.observe(statement, context)
        return out, position

    def statement(self, tokens, position, path, depth, context):
        items, line = [], tokens[position].line
        while True:
            if position >= len(tokens):
                raise EditError(f"{path}: line {line}: statement never ends (missing ';' or '}}')")
            token = tokens[position]
            if token.kind == "special" and token.text == ";":
                return Statement(path, line, items), position + 1
            if token.kind == "special" and token.text == "}":
                raise EditError(f"{path}: line {token.line}: missing ';' before '}}'")
            if token.kind == "special" and token.text == "{":
                inner = context + ((items[0].value.lower() if items and isinstance(items[0], Token) else ""),)
                block, position = self.statements(tokens, position + 1, path, depth, inner)
                if position >= len(tokens):
                    raise EditError(f"{path}: line {token.line}: '{{' is never closed")
                items.append(block)
                position += 1
                continue
            items.append(token)
            position += 1

    def observe(self, statement: Statement, context: tuple[str, ...]) -> None:
        """named chdir()s into `directory` as soon as it parses it (server.c directory_callback)."""
        if context == ("options",) and statement.keyword == "directory" and len(statement.words) > 1:
            self.conf.directory = statement.words[1].value
            self.conf.cwd = posixpath.normpath(posixpath.join(self.conf.cwd, self.conf.directory))
            self.seen_directory = True

    def include(self, statement: Statement, depth: int, context) -> list[Statement]:
        words = statement.words
        where = f"{statement.source}: line {statement.line}"
        if len(words) != 2 or words[1].kind != "string" or len(statement.items) != 2:
            raise EditError(f'{where}: include must be `include "file";`')
        written = words[1].value
        if not written.startswith("/") and not self.seen_directory:
            self.conf.warnings.append(f"{where}: include {written!r} is relative and before `directory`: "
                                      f"named resolves it against {self.conf.cwd} at start, against `directory` on reload")
        paths = self.expand(posixpath.normpath(posixpath.join(self.conf.cwd, written)), where)
        self.conf.includes.append(IncludeDecl(statement.source, statement.line, written, tuple(paths), self.read is not None))
        if self.read is None:
            return []
        if depth >= MAX_INCLUDE_DEPTH:
            raise EditError(f"{where}: includes nested deeper than {MAX_INCLUDE_DEPTH} files (a loop?)")
        out = []
        for path in paths:
            text = self.read(path)
            if text is None:
                raise EditError(f'{where}: include "{written}": {path} cannot be read (named would fail: file not found)')
            out += self.file(text, path, depth + 1, context)
        return out

    def expand(self, pattern: str, where: str) -> list[str]:
        if not _GLOB.search(pattern) or self.read is None:
            return [pattern]
        if self.glob is not None:
            found = sorted(self.glob(pattern))
        elif self.paths is not None:
            found = _glob_in(self.paths, pattern)
        else:
            raise EditError(f"{where}: include {pattern!r} is a pattern: give a glob function to expand it")
        if not found:
            raise EditError(f"{where}: include {pattern!r} matches no file (named would fail: file not found)")
        return found


def _zone(statement: Statement, view: str | None, cwd: str) -> ZoneDecl:
    words = statement.words
    if len(words) < 2:
        raise EditError(f"{statement.source}: line {statement.line}: zone without a name")
    name = words[1].value
    name = name.rstrip(".") or "."
    rclass = words[2].value.upper() if len(words) > 2 else "IN"
    options = {s.keyword: s.words[1].value for s in statement.block if len(s.words) > 1}
    written = options.get("file")
    path = posixpath.normpath(posixpath.join(cwd, written)) if written else None
    return ZoneDecl(name, rclass, options.get("type"), written, path, statement.source, statement.line, view)


def _zones(statements: list[Statement], cwd: str, view: str | None = None) -> list[ZoneDecl]:
    found = []
    for statement in statements:
        if statement.keyword == "view" and len(statement.words) > 1:
            found += _zones(statement.block, cwd, statement.words[1].value)
        elif statement.keyword == "zone":
            found.append(_zone(statement, view, cwd))
    return found


def parse(text: str, path: str = "/etc/bind/named.conf", *, read=None,
          glob: Callable[[str], list[str]] | None = None, start_dir: str = "/") -> NamedConf:
    """named.conf at `path` with its includes (through `read`), its zones and named's working directory."""
    conf = NamedConf(path)
    parser = _Parser(conf, read, glob, start_dir)
    conf.statements = parser.file(text, path, 0, ())
    conf.zones = _zones(conf.statements, conf.cwd)
    return conf


# ---- the text API the zone steps used before (kept for their callers) --------


def zones_in_named_conf(text: str) -> dict[str, str]:
    """{zone file as written: zone name} of the zone statements of this one file (views included)."""
    return {z.file: z.name for z in parse(text).zones if z.file}


def named_conf_directory(text: str) -> str | None:
    """options { directory "..." } as written, if this file sets it."""
    return parse(text).directory


def zone_name_from_named_conf(text: str, path: str) -> str | None:
    """The zone whose `file` is `path` (absolute, relative to `directory`, or the same basename once)."""
    zone = parse(text).zone_for_file(path, basename_fallback=True)
    return zone.name if zone else None
