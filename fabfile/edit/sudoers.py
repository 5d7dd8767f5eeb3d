"""sudoers as sudo 1.9 reads it: take removed users out (runbook A3).

After ``userdel`` a sudoers rule naming the account would silently apply
to the next account that gets the name (or the UID).  This module reads
sudoers the way sudo 1.9.13 does (its lexer, toke.l, and grammar, gram.y,
modelled rule for rule: longest match, line continuations, comments versus
``#include`` and ``#uid``, quoted strings, escapes, Defaults bindings,
aliases, includes) and removes the users from every user list:

* rules: the name leaves the rule's user list; a rule whose list becomes
  empty goes (the rule was only the removed users'); other users' parts
  keep their bytes;
* ``User_Alias``: the name leaves the alias; an alias left empty goes (an
  empty alias is a syntax error), and so does every reference to it
  (``A`` and ``!A``): an undefined alias would fall back to meaning the user
  named "A", and an empty set matches nobody either way;
* ``Defaults:user`` and ``Defaults>user``: the same as rules;
* ``!user`` is removed like ``user``: it matches only that user.

A list item naming a user only matches that user (sudo compares names, or
``#uid``), so removing it never changes what another user may do.  Where
that is not certain the editor refuses with one line naming the file, the
line and the construct: a removed user as the Runas target of a rule that
stays, or in a ``Runas_Alias`` (that would change another user's rule); an
item matching only because sudo compares names case-insensitively; a file
it cannot parse; an include it cannot follow.

Whole trees: ``@include``/``@includedir`` (and the ``#`` forms) are followed
as sudo does (relative to the including file's directory, includedir files
in sorted order, skipping names with a ``.`` or ending in ``~``).  The tree
is data: ``{path: text}`` plus ``{directory: [file names]}``, which
``missing_inputs`` says how to complete, so this module touches no host.
"""

from __future__ import annotations

import bisect
import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from . import EditError

MAIN = "/etc/sudoers"
MAX_DEPTH = 128  # sudo's limit of nested includes

# ---- the lexer (toke.l of sudo 1.9.13) -----------------------------------

_WORD = r'(?:[^#>!=:,() \t\r\n\\"]|\\[^\t\n])+'
_ID = r"#-?[0-9]+"
_PATH = r"/(?:\\[,:= \t#]|[^,:=\\ \t\r\n#])+"
_REGEX = r"\^(?:[^#\r\n$]|\\[#$])*\$"
_ENVAR = r'(?:[^#!=, \t\r\n\\"]|\\[^\r\n])(?:[^#=, \t\r\n\\"]|\\[^\r\n])*'
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_HEX16 = r"[0-9A-Fa-f]{1,4}"
_IPV6 = rf"(?:(?:{_HEX16})?:){{2,6}}:{_IPV4}|(?:(?:{_HEX16})?:){{2,7}}(?:{_HEX16})?"
TAGS = ("NOPASSWD", "PASSWD", "NOEXEC", "EXEC", "INTERCEPT", "NOINTERCEPT", "SETENV", "NOSETENV", "LOG_OUTPUT",
        "NOLOG_OUTPUT", "LOG_INPUT", "NOLOG_INPUT", "MAIL", "NOMAIL", "FOLLOW", "NOFOLLOW")
OPTIONS = ("TIMEOUT", "NOTBEFORE", "NOTAFTER", "CWD", "CHROOT", "ROLE", "TYPE")  # Debian's sudo has SELinux
_DIGEST_BYTES = {"sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
_INCLUSIVE = ("INITIAL", "GOTDEFS", "WANTDIGEST", "EXPECTPATH")  # flex %s states
_ALL_STATES = _INCLUSIVE + ("STARTDEFS", "INDEFS", "GOTINC")

# (states, pattern, handler, only at beginning of line), in toke.l's order:
# flex takes the longest match and, between equal lengths, the first rule.
_RULES = [
    (("GOTDEFS",), r"[ \t]*,[ \t]*", "punct", False),
    (("GOTDEFS",), r"[ \t]+", "startdefs", False),
    (("STARTDEFS",), r"[a-z_]+", "defvar", False),
    (("INDEFS",), r",", "defs_comma", False),
    (("INDEFS",), r"=", "punct", False),
    (("INDEFS",), r"\+=", "punct", False),
    (("INDEFS",), r"-=", "punct", False),
    (("INDEFS",), r'"', "string", False),
    (("INDEFS",), _ENVAR, "word", False),
    (("WANTDIGEST",), r"[0-9A-Fa-f]+", "digest_hex", False),
    (("WANTDIGEST",), r"[A-Za-z0-9+/=]+", "digest_base64", False),
    (("INITIAL",), r"@include", "include", False),
    (("INITIAL",), r"@includedir", "include", False),
    (("INITIAL",), r"#include[ \t]+.*(?:\r\n|\n)?", "hash_include", True),
    (("INITIAL",), r"#includedir[ \t]+.*(?:\r\n|\n)?", "hash_include", True),
    (("INITIAL",), rf'[ \t]*Defaults(?:[:@>!][ \t]*!*"?(?:{_ID}|{_WORD}))?', "defaults", True),
    (("INITIAL",), r"[ \t]*(?:Host|Cmnd|Cmd|User|Runas)_Alias", "alias_keyword", True),
    (_INCLUSIVE, rf"(?:{'|'.join(TAGS)})[ \t]*:", "tag", False),
    (("INITIAL", "GOTDEFS"), r"\+|%:?", "empty_group", False),
    (_INCLUSIVE, rf"\+{_WORD}", "netgroup", False),
    (_INCLUSIVE, rf"%:?(?:{_WORD}|{_ID})", "usergroup", False),
    (_INCLUSIVE, rf"{_IPV4}(?:/{_IPV4})?", "address", False),
    (_INCLUSIVE, rf"{_IPV4}/(?:3[0-2]|[12][0-9]|[0-9])", "address", False),
    (_INCLUSIVE, rf"(?:{_IPV6})(?:/(?:{_IPV6}))?", "address6", False),
    (_INCLUSIVE, rf"(?:{_IPV6})/(?:12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9])", "address6", False),
    (_INCLUSIVE, r"ALL", "all", False),
    (("INITIAL",), rf"(?:{'|'.join(OPTIONS)})", "option", False),
    (_INCLUSIVE, r"[A-Z][A-Z0-9_]*", "alias", False),
    (("GOTDEFS",), rf"(?:{_PATH}|{_REGEX}|sudoedit)", "defaults_command", False),
    (_INCLUSIVE, r"sha224|sha256|sha384|sha512", "digest_name", False),
    (_INCLUSIVE, r"sudoedit", "command", False),
    (("EXPECTPATH",), _PATH, "expected_path", False),  # two rules, not one (?:A|B): the longest wins,
    (("EXPECTPATH",), _WORD, "expected_path", False),  # as in flex (CWD=/t\mp is one WORD, not /t)
    (_INCLUSIVE, _PATH, "command", False),
    (_INCLUSIVE, _REGEX, "command", False),
    (("INITIAL", "GOTDEFS"), r'"', "string", False),
    (("INITIAL", "GOTDEFS"), rf"(?:{_ID}|{_WORD})", "word", False),
    (("GOTINC",), r'[^"\s](?:\S|\\[ \t])*', "include_path", False),
    (("GOTINC",), r'"', "string", False),
    (_INCLUSIVE, r"[(),=:]", "punct", False),
    (_ALL_STATES, r"!+", "bang", False),
    (_ALL_STATES, r"\r?\n", "newline", False),
    (_ALL_STATES, r"[ \t]+", "blank", False),
    (_ALL_STATES, r"\\[ \t]*\r?\n", "continuation", False),
    (("INITIAL", "STARTDEFS", "INDEFS"), r"#(?:-[^\r\n0-9].*|[^\r\n0-9-].*)?(?:\r\n|\n)?", "comment", False),
    (_ALL_STATES, r".", "nomatch", False),
]
_STRING_CONTINUATION = re.compile(r"\\[ \t]*\r?\n[ \t]*")
_STRING_BODY = re.compile(r'(?:[^"\r\n\\]|\\")+')
_ARG_PIECE = re.compile(r"\\[*?\[\]!^]|\\[:\\,= \t#]|[^#\\:, \t\r\n]+")
_ARG_GAP = re.compile(r"(?:[ \t]+|\\[ \t]*\r?\n)+")
_REGEX_PIECE = re.compile(r"\\[ \t]*\r?\n|\\[^\r\n]|[^#\\\r\n$]+")
_BY_STATE = {
    state: [(re.compile(pattern), handler, bol) for states, pattern, handler, bol in _RULES if state in states]
    for state in _ALL_STATES
}


@dataclass(frozen=True)
class Token:
    """kind: WORD ALIAS ALL USERGROUP NETGROUP NTWKADDR COMMAND DEFVAR TAG OPTION DIGEST_NAME DIGEST
    INCLUDE DEFAULTS ALIAS_KEYWORD BANG NL ERROR or a punctuation character; value as sudo stores it."""

    kind: str
    value: object
    start: int
    end: int


class SudoersSyntaxError(EditError):
    """The text is not sudoers as sudo reads it (or not a form this module follows)."""


def unescape(raw: str) -> str:
    """copy_string() of toke_util.c: a backslash quotes the next character, \\xHH is a byte."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            hexpart = raw[i + 2:i + 4]
            if raw[i + 1] == "x" and len(hexpart) == 2 and all(c in "0123456789abcdefABCDEF" for c in hexpart):
                out.append(chr(int(hexpart, 16)))
                i += 4
                continue
            out.append(raw[i + 1])
            i += 2
            continue
        out.append(raw[i])
        i += 1
    return "".join(out)


def _unescape_command(raw: str) -> str:
    """fill_cmnd(): only sudoers' own special characters lose their backslash (not in regexes)."""
    if raw.startswith("^"):
        return raw
    return re.sub(r"\\([,:= \t#])", r"\1", raw)


class _Lexer:
    """Tokens of one file, with offsets into its text; state names are toke.l's."""

    def __init__(self, text: str):
        self.src = text if not text or text.endswith("\n") else text + "\n"  # sudoers_input adds it
        self.pos = 0
        self.state = "INITIAL"
        self.prev_state = "INITIAL"
        self.continued = False
        self.digest_name = ""
        self.tokens: list[Token] = []
        self._args_stop = 0       # where a command's arguments ended (GOTCMND)
        self._regex_text = ""     # the regex arguments just read (GOTREGEX)

    def run(self) -> list[Token]:
        while self.pos < len(self.src):
            self._step()
        return self.tokens

    def _step(self) -> None:
        bol = self.pos == 0 or self.src[self.pos - 1] == "\n"
        best, best_len = None, -1
        for regex, handler, needs_bol in _BY_STATE[self.state]:
            if needs_bol and not bol:
                continue
            match = regex.match(self.src, self.pos)
            if match and len(match.group()) > best_len:
                best, best_len = (match, handler), len(match.group())
        match, handler = best
        getattr(self, "_" + handler)(match)

    def _emit(self, kind: str, value, start: int, end: int) -> None:
        self.tokens.append(Token(kind, value, start, end))
        self.pos = end

    def _error(self, message: str, at: int | None = None) -> None:
        at = self.pos if at is None else at
        self.tokens.append(Token("ERROR", message, at, at))
        self.pos = self.src.find("\n", at) if "\n" in self.src[at:] else len(self.src)
        self.state = "INITIAL"

    def _anchored(self, match) -> bool:
        """Keywords that must start a line are an error right after a continuation."""
        if self.continued:
            self._error("invalid line continuation", match.start())
            return False
        return True

    # -- handlers, one per toke.l action ------------------------------------

    def _punct(self, m):
        text = m.group().strip(" \t")
        self._emit({"+=": "+", "-=": "-"}.get(text, text), text, m.start(), m.end())

    def _startdefs(self, m):
        self.state = "STARTDEFS"
        self.pos = m.end()

    def _defvar(self, m):
        self.state = "INDEFS"
        self._emit("DEFVAR", m.group(), m.start(), m.end())

    def _defs_comma(self, m):
        self.state = "STARTDEFS"
        self._emit(",", ",", m.start(), m.end())

    def _word(self, m):
        self._emit("WORD", unescape(m.group()), m.start(), m.end())

    def _digest_hex(self, m):
        self._digest(m, 2 * _DIGEST_BYTES[self.digest_name])

    def _digest_base64(self, m):
        size = _DIGEST_BYTES[self.digest_name]
        self._digest(m, 4 * ((size + 2) // 3) if m.group().endswith("=") else (4 * size + 2) // 3)

    def _digest(self, m, length: int):
        """Only a digest of the algorithm's length is one (else sudo's grammar fails on what follows)."""
        self.state = "INITIAL"
        if len(m.group()) == length:
            self._emit("DIGEST", m.group(), m.start(), m.end())
        else:
            self._error(f"{self.digest_name} digest of the wrong length", m.start())

    def _include(self, m):
        if self._anchored(m):
            self.state = "GOTINC"
            self._emit("INCLUDE", "dir" if m.group().endswith("dir") else "file", m.start(), m.end())

    def _hash_include(self, m):
        if self._anchored(m):
            word = "#includedir" if m.group().startswith("#includedir") else "#include"
            self.state = "GOTINC"
            self._emit("INCLUDE", "dir" if word.endswith("dir") else "file", m.start(), m.start() + len(word))

    def _defaults(self, m):
        if not self._anchored(m):
            return
        text = m.group()
        n = len(text) - len(text.lstrip(" \t")) + len("Defaults")
        binding = text[n] if n < len(text) else ""
        if binding:
            n += 1
            while n < len(text) and text[n] in " \t":
                n += 1
        self.state = "GOTDEFS"
        self._emit("DEFAULTS", binding, m.start(), m.start() + n)

    def _alias_keyword(self, m):
        if self._anchored(m):
            kind = {"H": "Host", "C": "Cmnd", "U": "User", "R": "Runas"}[m.group().lstrip(" \t")[0]]
            self._emit("ALIAS_KEYWORD", kind, m.start(), m.end())

    def _tag(self, m):
        self._emit("TAG", m.group().rstrip(": \t"), m.start(), m.end())

    def _empty_group(self, m):
        self._error("empty netgroup" if m.group() == "+" else "empty group", m.start())

    def _netgroup(self, m):
        self._emit("NETGROUP", unescape(m.group()), m.start(), m.end())

    def _usergroup(self, m):
        self._emit("USERGROUP", unescape(m.group()), m.start(), m.end())

    def _address(self, m):
        self._emit("NTWKADDR", m.group(), m.start(), m.end())

    def _address6(self, m):
        try:
            ipaddress.ip_network(m.group(), strict=False)
        except ValueError:
            self._error("invalid IPv6 address", m.start())
            return
        self._emit("NTWKADDR", m.group(), m.start(), m.end())

    def _all(self, m):
        self._emit("ALL", "ALL", m.start(), m.end())

    def _option(self, m):
        if m.group() in ("CWD", "CHROOT"):
            self.prev_state, self.state = self.state, "EXPECTPATH"
        self._emit("OPTION", m.group(), m.start(), m.end())

    def _alias(self, m):
        self._emit("ALIAS", m.group(), m.start(), m.end())

    def _defaults_command(self, m):
        self._emit("COMMAND", (_unescape_command(m.group()), None), m.start(), m.end())

    def _digest_name(self, m):
        self.digest_name, self.state = m.group(), "WANTDIGEST"
        self._emit("DIGEST_NAME", m.group(), m.start(), m.end())

    def _expected_path(self, m):
        self.state = self.prev_state
        self._emit("WORD", unescape(m.group()), m.start(), m.end())

    def _include_path(self, m):
        self.state = "INITIAL"
        self._emit("WORD", unescape(m.group()), m.start(), m.end())

    def _bang(self, m):
        self._emit("BANG", len(m.group()) % 2 == 1, m.start(), m.end())

    def _newline(self, m):
        self.state, self.continued = "INITIAL", False
        self._emit("NL", "", m.start(), m.end())

    def _blank(self, m):
        self.pos = m.end()

    def _continuation(self, m):
        self.continued = True
        self.pos = m.end()

    def _comment(self, m):
        self.state, self.continued = "INITIAL", False
        self._emit("NL", m.group().rstrip("\r\n"), m.start(), m.end())

    def _nomatch(self, m):
        self._error(f"unexpected character {m.group()!r}", m.start())

    # -- strings and commands (INSTR, GOTCMND, GOTREGEX) ------------------------

    def _string(self, m):
        """INSTR: a quoted word; in a user or host position "%..." is a group, "+..." a netgroup."""
        start, pos, value = m.start(), m.end(), []
        src = self.src
        while True:
            if pos >= len(src):
                self._error("unterminated string", start)
                return
            cont = _STRING_CONTINUATION.match(src, pos)
            if cont:
                pos = cont.end()
                continue
            if src[pos] == '"':
                break
            body = _STRING_BODY.match(src, pos)
            if body:
                value.append(body.group().replace('\\"', '"'))
                pos = body.end()
            elif src[pos] == "\\":
                value.append("\\")
                pos += 1
            else:
                self._error("unexpected line break in string", pos)
                return
        text, kind = "".join(value), "WORD"
        if not text:
            self._error("empty string", start)
            return
        if self.state in ("INITIAL", "GOTDEFS") and text[0] in "%+":
            if text in ("%", "%:", "+"):
                self._error("empty group", start)
                return
            kind = "USERGROUP" if text[0] == "%" else "NETGROUP"
        if self.state == "GOTINC":
            self.state = "INITIAL"
        self._emit(kind, text, start, pos + 1)

    def _command(self, m):
        """A path (or sudoedit, or a regex) and its arguments, up to # : , = or the line's end."""
        text = m.group()
        if text.endswith("/") and not text.startswith("^"):
            self._emit("COMMAND", (_unescape_command(text), None), m.start(), m.end())
            return
        args, end = self._arguments(m.end())
        if args is False:
            return
        self._emit("COMMAND", (_unescape_command(text), args), m.start(), end)
        self.pos, self.state = self._args_stop, "INITIAL"

    def _arguments(self, pos: int):
        """(args or None, end of the last argument); sets _args_stop where the command ends."""
        src, parts, end, space = self.src, [], pos, False
        piece = _ARG_PIECE
        while True:
            if src.startswith("\r\n", pos):
                self._error("a command followed by CR LF (sudo's lexer takes the line break first)", pos)
                return False, pos
            if src[pos] in "#:,=\r\n":
                self._args_stop = pos
                return ("".join(parts) if parts else None), end
            gap = _ARG_GAP.match(src, pos)
            if gap:
                space, pos = True, gap.end()
                self.continued = self.continued or "\n" in gap.group()
                continue
            if src[pos] == "^" and not parts:
                regex_end = self._regex_argument(pos)
                if regex_end is None:
                    return False, pos
                parts.append(self._regex_text)
                self._args_stop = regex_end
                return "".join(parts), regex_end
            match = piece.match(src, pos)
            if not match:
                self._error("unexpected backslash in a command", pos)
                return False, pos
            text = match.group()
            text = text[1] if text[0] == "\\" and text[1] in ":\\,= \t#" else text
            parts.append((" " if space and parts else "") + text)
            space, pos, end = False, match.end(), match.end()

    def _regex_argument(self, pos: int):
        """GOTREGEX: ^...$ as the arguments; returns the offset after the $ (or None on an error)."""
        src, out, after_continuation = self.src, [], False
        while pos < len(src):
            if src[pos] == "$":
                self._regex_text = "".join(out) + "$"
                self.continued = False
                return pos + 1
            if src[pos] in "#\r\n":
                break
            text = _REGEX_PIECE.match(src, pos).group()
            pos += len(text)
            if text.startswith("\\") and text.endswith("\n"):
                after_continuation = self.continued = True
                continue
            if after_continuation and not text.startswith("\\"):
                text = text.lstrip(" \t")  # sudo drops the blanks after a continuation here
            after_continuation = False
            out.append(text)
        self._error("unterminated regular expression", pos)
        return None


def tokenize(text: str) -> list[Token]:
    """The tokens sudo's lexer makes of `text` (a file without final newline gets one, as in sudo)."""
    return _Lexer(text).run()


# ---- the grammar (gram.y) ------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One list member: kind is the token (WORD, ALIAS, ALL, USERGROUP, NETGROUP, NTWKADDR, COMMAND)."""

    kind: str
    value: object
    negated: bool
    start: int
    end: int
    digests: tuple = ()


@dataclass(frozen=True)
class CmndSpec:
    """Runas, options and tags as written on this command (sudo carries them on to the next)."""

    runas_users: tuple[Item, ...] | None
    runas_groups: tuple[Item, ...] | None
    runas_given: bool
    options: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    command: Item


@dataclass(frozen=True)
class Privilege:
    """privilege: Host_List '=' Cmnd_Spec_List."""

    hosts: tuple[Item, ...]
    commands: tuple[CmndSpec, ...]


@dataclass(frozen=True)
class AliasDef:
    """NAME '=' list, one of the definitions on an alias line; start/end span the definition."""

    name: str
    items: tuple[Item, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Entry:
    """One sudoers entry.  kind: rule, alias, defaults, include.

    span: from the end of the previous line break to the end of this
    entry's own (a trailing comment belongs to the entry's last line).
    """

    kind: str
    line: int
    start: int
    end: int
    users: tuple[Item, ...] = ()          # rule: who; defaults: the binding list (users, runas, hosts, commands)
    binding: str = ""                     # defaults: "", ":", ">", "@", "!"
    params: tuple[str, ...] = ()          # defaults: the parameters, as sudo stores them
    alias_type: str = ""                  # alias: User, Runas, Host, Cmnd
    aliases: tuple[AliasDef, ...] = ()
    privileges: tuple[Privilege, ...] = ()
    include: str = ""                     # include: "file" or "dir"
    path: str = ""                        # include: the path as written (unescaped)


_ITEM_KINDS = {
    "user": ("ALIAS", "ALL", "NETGROUP", "USERGROUP", "WORD"),
    "host": ("ALIAS", "ALL", "NETGROUP", "NTWKADDR", "WORD"),
    "group": ("ALIAS", "ALL", "WORD"),
}
_LIST_OF_ALIAS = {"User": "user", "Runas": "user", "Host": "host", "Cmnd": "cmnd"}


class _Parser:
    """Recursive descent over gram.y's productions; raises SudoersSyntaxError with the line."""

    def __init__(self, path: str, text: str):
        self.path, self.text = path, text
        self.tokens = tokenize(text)
        self.i = 0
        self.newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1

    def peek(self, ahead: int = 0) -> Token:
        index = self.i + ahead
        if index < len(self.tokens):
            return self.tokens[index]
        return Token("NL", "", len(self.text), len(self.text))

    def take(self, *kinds: str) -> Token:
        token = self.peek()
        if kinds and token.kind not in kinds:
            self.fail(token, f"expected {' or '.join(kinds)}")
        self.i += 1
        return token

    def fail(self, token: Token, message: str):
        if token.kind == "ERROR":
            message = str(token.value)
        raise SudoersSyntaxError(
            f"{self.path} line {self.line_of(token.start)}: not sudoers as sudo 1.9 reads it ({message}); "
            f"check it with visudo -cf {self.path}")

    def entries(self) -> list[Entry]:
        """file: entry*, each entry spanning from the previous line break."""
        out, previous_end = [], 0
        while self.i < len(self.tokens):
            first = self.peek()
            if first.kind == "NL":
                previous_end = self.take().end
                continue
            entry = self.entry(first, previous_end)
            out.append(entry)
            previous_end = entry.end
        return out

    def entry(self, first: Token, start: int) -> Entry:
        """include | Defaults | alias | User_List privileges ('User_Spec'), then the line's end."""
        line = self.line_of(first.start)
        if first.kind == "INCLUDE":
            self.take()
            path = self.take("WORD", "USERGROUP", "NETGROUP")
            if path.kind != "WORD":
                self.fail(path, "an include path")
            return Entry("include", line, start, self.end_of_entry(), include=first.value, path=path.value)
        if first.kind == "DEFAULTS":
            return self.defaults(line, start)
        if first.kind == "ALIAS_KEYWORD":
            return self.alias_entry(line, start)
        users = self.item_list("user")
        privileges = [self.privilege()]
        while self.peek().kind == ":":
            self.take()
            privileges.append(self.privilege())
        return Entry("rule", line, start, self.end_of_entry(), users=tuple(users), privileges=tuple(privileges))

    def end_of_entry(self) -> int:
        token = self.peek()
        if token.kind != "NL":
            self.fail(token, "expected the end of the entry")
        self.take()
        return min(token.end, len(self.text))

    def negation(self) -> tuple[bool, int | None]:
        """'!'* as the lexer returns it: runs of even length vanish, two separate '!' are an error."""
        odd, start = 0, None
        while self.peek().kind == "BANG":
            token = self.take()
            start = token.start if start is None else start
            odd += token.value
            if odd > 1:
                self.fail(token, "'!' twice")
        return odd == 1, start

    def item(self, kind: str) -> Item:
        """opuser / ophost / opgroup: '!'* and one member of the kind's tokens."""
        if kind == "cmnd":
            return self.command_item()
        negated, start = self.negation()
        token = self.take(*_ITEM_KINDS[kind])
        return Item(token.kind, token.value, negated, token.start if start is None else start, token.end)

    def item_list(self, kind: str) -> list[Item]:
        items = [self.item(kind)]
        while self.peek().kind == ",":
            self.take()
            items.append(self.item(kind))
        return items

    def command_item(self) -> Item:
        """digcmnd: digests, then '!'? and ALL, an alias, a command or the word "list"."""
        digests, start = [], None
        while self.peek().kind == "DIGEST_NAME":
            name = self.take()
            start = name.start if start is None else start
            self.take(":")
            digests.append((name.value, self.take("DIGEST").value))
            if self.peek().kind == "," and self.peek(1).kind == "DIGEST_NAME":
                self.take()
        negated, bang = self.negation()
        token = self.take("ALL", "ALIAS", "COMMAND", "WORD")
        if token.kind == "WORD" and token.value != "list":
            self.fail(token, "expected a fully-qualified path name")
        if digests and token.kind not in ("COMMAND", "ALL"):
            self.fail(token, "a digest requires a path name")
        start = start if start is not None else (bang if bang is not None else token.start)
        value = (token.value, None) if token.kind == "WORD" else token.value
        kind = "COMMAND" if token.kind == "WORD" else token.kind
        return Item(kind, value, negated, start, token.end, tuple(digests))

    def privilege(self) -> Privilege:
        """Host_List '=' Cmnd_Spec (',' Cmnd_Spec)*."""
        hosts = self.item_list("host")
        self.take("=")
        commands = [self.cmndspec()]
        while self.peek().kind == ",":
            self.take()
            commands.append(self.cmndspec())
        return Privilege(tuple(hosts), tuple(commands))

    def cmndspec(self) -> CmndSpec:
        """Cmnd_Spec ::= Runas_Spec? Option_Spec* (Tag_Spec ':')* Cmnd."""
        users = groups = None
        given = False
        if self.peek().kind == "(":
            self.take()
            given = True
            users, groups = self.runas()
            self.take(")")
        options = []
        while self.peek().kind == "OPTION":
            name = self.take().value
            self.take("=")
            options.append((name, self.take("WORD").value))
        tags = []
        while self.peek().kind == "TAG":
            tags.append(self.take().value)
        return CmndSpec(users, groups, given, tuple(options), tuple(tags), self.command_item())

    def runas(self):
        """runaslist: empty | users | users ':' groups | ':' groups | ':'."""
        users = groups = None
        if self.peek().kind not in (":", ")"):
            users = tuple(self.item_list("user"))
        if self.peek().kind == ":":
            self.take()
            if self.peek().kind != ")":
                groups = tuple(self.item_list("group"))
        return users, groups

    def defaults(self, line: int, start: int) -> Entry:
        """Default_Type (with its binding list) Parameter_List."""
        binding = self.take().value
        kind = {":": "user", ">": "user", "@": "host", "!": "cmnd"}.get(binding)
        bound = tuple(self.item_list(kind)) if kind else ()
        params = [self.parameter()]
        while self.peek().kind == ",":
            self.take()
            params.append(self.parameter())
        return Entry("defaults", line, start, self.end_of_entry(), users=bound, binding=binding, params=tuple(params))

    def parameter(self) -> str:
        """Parameter ::= '!'* name | name ('=' | '+=' | '-=') value, as sudo stores it."""
        negated, _ = self.negation()
        name = self.take("DEFVAR").value
        if not negated and self.peek().kind in ("=", "+", "-"):
            operator = self.take().value
            return f"{name}{operator}{self.take('WORD').value}"
        return ("!" if negated else "") + name

    def alias_entry(self, line: int, start: int) -> Entry:
        """Alias_Type NAME '=' list (':' NAME '=' list)*."""
        alias_type = self.take().value
        definitions = [self.alias_def(alias_type)]
        while self.peek().kind == ":":
            self.take()
            definitions.append(self.alias_def(alias_type))
        return Entry("alias", line, start, self.end_of_entry(), alias_type=alias_type, aliases=tuple(definitions))

    def alias_def(self, alias_type: str) -> AliasDef:
        name = self.peek()
        if name.kind in ("ALL", "OPTION"):
            self.fail(name, f"reserved word {name.value} used as an alias name")
        self.take("ALIAS")
        self.take("=")
        items = self.item_list(_LIST_OF_ALIAS[alias_type])
        return AliasDef(name.value, tuple(items), name.start, items[-1].end)


@dataclass
class SudoersFile:
    """One parsed file: its text (edits are cuts of it) and its entries."""

    path: str
    text: str
    entries: list[Entry]
    newlines: list[int] = field(repr=False, default_factory=list)


def parse(text: str, path: str = "sudoers") -> SudoersFile:
    """Entries of one sudoers file; SudoersSyntaxError (one line, with the line number) if sudo would refuse it."""
    parser = _Parser(path, text)
    return SudoersFile(path, text, parser.entries(), parser.newlines)


# ---- the include tree ----------------------------------------------------


@dataclass
class Tree:
    """All files sudo reads, each parsed once, and the entries in the order sudo meets them."""

    files: dict[str, SudoersFile]
    order: list[tuple[str, Entry]]
    missing_files: list[str] = field(default_factory=list)
    missing_dirs: list[str] = field(default_factory=list)


def include_target(including: str, written: str, hostname: str | None) -> str:
    """expand_include(): quotes stripped, %h is the short host name, relative to the including file's directory."""
    if len(written) > 1 and written.startswith('"') and written.endswith('"'):
        written = written[1:-1]
    if "%h" in written:
        if hostname is None:
            raise EditError(f"{including}: include {written!r} uses %h (the host name): give the host name to follow it")
        written = written.replace("%h", hostname.split(".")[0])
    if not written.startswith("/"):
        written = posixpath.dirname(including) + "/" + written
    return posixpath.normpath(written)


def includedir_files(directory: str, names: Iterable[str]) -> list[str]:
    """read_dir_files(): names without a '.' and not ending in '~', in strcmp order."""
    kept = sorted(n for n in names if n and "." not in n and not n.endswith("~") and "/" not in n)
    return [posixpath.normpath(f"{directory}/{name}") for name in kept]


def _walk(tree: Tree, files, listings, path: str, stack: tuple, hostname) -> None:
    if len(stack) > MAX_DEPTH or path in stack:
        raise EditError(f"{stack[-1]}: includes {path} again (an include loop); sudo refuses this tree")
    if path not in files:
        tree.missing_files.append(path)
        return
    text = files[path]
    if text is None:
        raise EditError(f"{stack[-1] if stack else path}: includes {path}, which does not exist; sudo refuses this tree")
    parsed = tree.files.get(path) or parse(text, path)
    tree.files[path] = parsed
    for entry in parsed.entries:
        tree.order.append((path, entry))
        if entry.kind != "include":
            continue
        target = include_target(path, entry.path, hostname)
        if entry.include == "file":
            _walk(tree, files, listings, target, stack + (path,), hostname)
        elif target not in listings:
            tree.missing_dirs.append(target)
        elif listings[target] is not None:
            for member in includedir_files(target, listings[target]):
                _walk(tree, files, listings, member, stack + (path,), hostname)


def load_tree(files: Mapping[str, str | None], listings: Mapping[str, Sequence[str] | None] = None,
              main: str = MAIN, hostname: str | None = None, complete: bool = True) -> Tree:
    """The tree from `main`: files {path: text, or None if absent}, listings {directory: regular file names,
    or None if sudo skips it (absent or insecure)}.  complete=True refuses when something is not given."""
    files = {posixpath.normpath(p): t for p, t in files.items()}
    listings = {posixpath.normpath(d): n for d, n in (listings or {}).items()}
    tree = Tree({}, [])
    main = posixpath.normpath(main)
    if main in files and files[main] is None:
        raise EditError(f"{main}: does not exist")
    _walk(tree, files, listings, main, (), hostname)
    if complete and (tree.missing_files or tree.missing_dirs):
        wanted = tree.missing_files + [d + "/" for d in tree.missing_dirs]
        raise EditError(f"{main}: the include tree needs {', '.join(wanted)} (read them first: missing_inputs)")
    return tree


def missing_inputs(files: Mapping[str, str | None], listings: Mapping[str, Sequence[str] | None] = None,
                   main: str = MAIN, hostname: str | None = None) -> tuple[list[str], list[str]]:
    """(files, directories) the tree includes that are not given yet: read them, call again until both are empty."""
    tree = load_tree(files, listings, main, hostname, complete=False)
    return sorted(set(tree.missing_files)), sorted(set(tree.missing_dirs))


# ---- removing users ------------------------------------------------------

_NAME = re.compile(r"^[^\s,:=#!%+\"\\()][^\s,:=#!\\()\"]*$")


def _ascii_lower(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def _uid_of(value: str) -> int | None:
    if re.fullmatch(r"#-?[0-9]+", value):
        return int(value[1:]) % 2**32
    return None


class _Removal:
    """Which items and entries go, across the whole tree; refusals as EditError."""

    def __init__(self, tree: Tree, users: Mapping[str, int | None]):
        self.tree, self.users = tree, dict(users)
        self.user_aliases = {d.name: d for _, e in tree.order if e.kind == "alias" and e.alias_type == "User"
                             for d in e.aliases}
        self.runas_aliases = {d.name for _, e in tree.order if e.kind == "alias" and e.alias_type == "Runas"
                              for d in e.aliases}
        self.gone: set[str] = set()
        self._settle_aliases()

    def refers(self, item: Item, aliases, where: tuple[str, Entry]) -> bool:
        """Does the item name a removed user (by name or #uid)?  Refuses a case-only match."""
        if item.kind not in ("WORD", "ALIAS") or (item.kind == "ALIAS" and item.value in aliases):
            return False
        value = str(item.value)
        for name, uid in self.users.items():
            if value == name or (uid is not None and _uid_of(value) == uid % 2**32):
                return True
            if _ascii_lower(value) == _ascii_lower(name):
                path, entry = where
                raise EditError(
                    f"{path} line {entry.line}: {value!r} means {name} only because sudo compares user names "
                    f"case-insensitively (case_insensitive_user); edit it by hand (visudo -f {path})")
        return False

    def drops(self, item: Item, where) -> bool:
        """A member of a user list that goes: a removed user, or a User_Alias left empty."""
        if item.kind == "ALIAS" and item.value in self.gone:
            return True
        return self.refers(item, self.user_aliases, where)

    def _settle_aliases(self) -> None:
        """User_Aliases left empty, to a fixed point (an alias may hold only emptied aliases)."""
        where = {d.name: (p, e) for p, e in self.tree.order if e.kind == "alias" for d in e.aliases}
        changed = True
        while changed:
            changed = False
            for name, definition in self.user_aliases.items():
                if name not in self.gone and all(self.drops(i, where[name]) for i in definition.items):
                    self.gone.add(name)
                    changed = True

    def check_runas(self, path: str, entry: Entry) -> None:
        """A removed user as the Runas target of a rule that stays would change that rule: refuse."""
        lists = [d.items for d in entry.aliases] if entry.kind == "alias" else [
            spec.runas_users for privilege in entry.privileges for spec in privilege.commands if spec.runas_users]
        for items in lists:
            for item in items:
                if self.refers(item, self.runas_aliases, (path, entry)):
                    raise EditError(
                        f"{path} line {entry.line}: {item.value} is a Runas target "
                        f"({'Runas_Alias' if entry.kind == 'alias' else 'in a rule that stays'}); "
                        f"removing it would change another user's rule: edit it by hand (visudo -f {path})")


def _list_cuts(items: Sequence[Item], dropped: Sequence[bool]) -> list[tuple[int, int]]:
    """Spans that remove the dropped items with their separators; the others keep every byte."""
    cuts, i, n = [], 0, len(items)
    while i < n:
        if not dropped[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and dropped[j + 1]:
            j += 1
        if j + 1 < n:
            cuts.append((items[i].start, items[j + 1].start))
        else:
            cuts.append((items[i - 1].end, items[j].end))
        i = j + 1
    return cuts


def _entry_cuts(removal: _Removal, path: str, entry: Entry) -> list[tuple[int, int]]:
    """What goes from one entry: the whole entry, some list members, or nothing."""
    whole = [(entry.start, entry.end)]
    if entry.kind == "alias" and entry.alias_type == "Runas":
        removal.check_runas(path, entry)
    if entry.kind == "alias" and entry.alias_type == "User":
        gone = [d.name in removal.gone for d in entry.aliases]
        if all(gone):
            return whole
        cuts = [c for d, g in zip(entry.aliases, gone) if not g
                for c in _list_cuts(d.items, [removal.drops(i, (path, entry)) for i in d.items])]
        return cuts + _list_cuts(entry.aliases, gone)
    if entry.kind == "rule" or (entry.kind == "defaults" and entry.binding == ":"):
        dropped = [removal.drops(i, (path, entry)) for i in entry.users]
    elif entry.kind == "defaults" and entry.binding == ">":
        dropped = [removal.refers(i, removal.runas_aliases, (path, entry)) for i in entry.users]
    else:
        return []
    if all(dropped):
        return whole
    if entry.kind == "rule":
        removal.check_runas(path, entry)
    return _list_cuts(entry.users, dropped)


def _apply_cuts(text: str, cuts: list[tuple[int, int]]) -> str:
    out, position = [], 0
    for start, end in sorted(cuts):
        start, end = max(start, position), min(end, len(text))
        if start < end:
            out.append(text[position:start])
            position = end
    out.append(text[position:])
    return "".join(out)


def _normal_users(users) -> dict[str, int | None]:
    mapping = dict(users) if isinstance(users, Mapping) else {name: None for name in users}
    for name in mapping:
        if not isinstance(name, str) or not _NAME.match(name) or name == "ALL":
            raise EditError(f"not a user name for sudoers: {name!r}")
    return mapping


def remove_users_tree(files: Mapping[str, str | None], listings: Mapping[str, Sequence[str] | None],
                      users: Mapping[str, int | None] | Iterable[str], main: str = MAIN,
                      hostname: str | None = None) -> dict[str, str]:
    """{path: new text} for the files of the tree that change when `users` ({name: uid or None}) go.

    Give a user's UID only if no other account has it: then ``#uid`` items go too.
    Refuses (EditError, one line) rather than change another user's rules.
    """
    users = _normal_users(users)
    tree = load_tree(files, listings, main, hostname)
    removal = _Removal(tree, users)
    changed = {}
    for path, parsed in tree.files.items():
        cuts = [cut for entry in parsed.entries for cut in _entry_cuts(removal, path, entry)]
        new_text = _apply_cuts(parsed.text, cuts)
        if new_text != parsed.text:
            changed[path] = new_text
    return changed


def remove_users(text: str, users: Mapping[str, int | None] | Iterable[str], path: str = "sudoers") -> str:
    """One file on its own (its includes are not followed: use remove_users_tree for a host's tree)."""
    users = _normal_users(users)
    parsed = parse(text, path)
    tree = Tree({path: parsed}, [(path, entry) for entry in parsed.entries])
    removal = _Removal(tree, users)
    return _apply_cuts(text, [cut for entry in parsed.entries for cut in _entry_cuts(removal, path, entry)])


def remove_user(text: str, user: str) -> str:
    """sudoers text without the user's rules, Defaults and alias memberships (this file only)."""
    return remove_users(text, [user])
