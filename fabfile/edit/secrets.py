"""One secret filter for everything shown, journalled or reported (issue 11, item 5).

Tools print secrets without being asked: pwck and grpck quote a whole
stray shadow line (``delete line 'ghost:$y$j9T$...:19000:0:99999:7:::'?``),
rsync lists a file named like a hash, a diff of /etc/shadow carries every
hash, a command's output may hold a private key or an APOP secret.  Every
output passes through `redact` (or a `stream()` for line-by-line feeds),
which replaces, keeping the shape so the line still reads:

* the password field of account lines (shadow, gshadow, passwd and group
  records; pwck's and grpck's ``delete line '...'``):
  ``ghost:<redacted>:19000:0:99999:7:::`` (lock markers ``x * ! !!`` stay,
  and a leading ``!`` of a locked hash stays);
* crypt(3) hashes anywhere (``$1$ $2b$ $5$ $6$ $7$ $y$ $gy$``, argon2...):
  ``$y$<redacted>``; a 13-character DES hash only inside an account line
  (anywhere else it is just a word);
* private key blocks (PEM and OpenSSH ``-----BEGIN ... PRIVATE KEY-----``,
  SSH2 ``---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----``, PGP private key
  blocks, PuTTY's ``Private-Lines:`` and ``Private-MAC:``): the BEGIN and
  END lines stay, the body becomes ``<redacted private key>``; a block
  cut off before its END is redacted to the end of the text;
* secret values registered at run time (`add`: APOP secrets from
  pop.auth, checks.pop_password), wherever they appear, also JSON-escaped;
  the marker is ``<redacted>``, or another one when a registered secret
  could overlap it (so no replacement can recreate a secret).

Redact before encoding (JSON, HTML): encoders change the bytes the patterns
look for.  `Redactor` is thread-safe (registered secrets are an immutable
snapshot swapped under a lock); a `stream()` holds the state of one
line-by-line feed (inside a key block or not) and belongs to one stream.
"""

from __future__ import annotations

import json
import re
import threading

MARK = "<redacted>"
KEY_MARK = "<redacted private key>"
LOCK_MARKERS = frozenset({"", "x", "*", "!", "!!", "!*", "*NP*", "*LK*", "NP", "LK"})

_SCHEMES = r"(?:1|2[abxy]|5|6|7|y|gy|sha1|md5|argon2(?:id|i|d)|scrypt|pbkdf2(?:-sha\d+)?)"
# $id$, then at least two more $-separated parts (salt, hash; params for yescrypt, rounds=, cost)
_HASH = re.compile(rf"\$(?P<id>{_SCHEMES})\$(?=[^\s:'\"]*[^\s$:'\"])[^\s$:'\"]*\$[^\s:'\"]*")
_DES = re.compile(r"[./0-9A-Za-z]{13}")
_FIELD = r"[^\s:'\"]*"
_START = r"(?:^|(?<=[\s'\"(\[=,+<>|-]))"
_END = r"(?=$|[\s'\"),;?\]])"
# shadow: 9 fields, 3-8 numeric or empty
_SHADOW = re.compile(rf"{_START}(?P<name>[^\s:'\"]+):(?P<pw>{_FIELD})(?P<rest>(?::\d*){{6}}:{_FIELD}){_END}", re.M)
# passwd: 7 fields, numeric UID and GID (GECOS may hold blanks)
_PASSWD = re.compile(rf"{_START}(?P<name>[^\s:'\"]+):(?P<pw>{_FIELD})(?P<rest>:\d+:\d+:[^:\n]*:[^:\n]*:{_FIELD}){_END}", re.M)
# group (numeric GID) or gshadow (admins, members): 4 fields; only a hash-like password counts here
_GROUPISH = re.compile(rf"{_START}(?P<name>[^\s:'\"]+):(?P<pw>{_FIELD})(?P<rest>:{_FIELD}:{_FIELD}){_END}", re.M)
# pwck/grpck: "delete line '<the whole line>'?"
_DELETE_LINE = re.compile(r"(?P<head>delete line ')(?P<name>[^:'\n]*):(?P<pw>[^:'\n]*)(?P<rest>[^'\n]*')")
_KEY_BEGIN = re.compile(r"^(?P<dashes>-{4,5}) ?BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?) ?-{4,5}[ \t]*\r?$", re.M)
_PUTTY = re.compile(r"^(?P<head>Private-Lines:[ \t]*(?P<count>\d+)[ \t]*\r?\n)", re.M)
_PUTTY_MAC = re.compile(r"^(?P<head>Private-(?:MAC|Hash):[ \t]*)\S+", re.M)


def _looks_hashed(value: str) -> bool:
    bare = value.lstrip("!*")
    return bool(_HASH.fullmatch(bare) or _DES.fullmatch(bare))


def _hidden(value: str) -> str:
    """The password field's shape: markers stay, a locked hash keeps its '!'."""
    if value in LOCK_MARKERS:
        return value
    lock = value[: len(value) - len(value.lstrip("!*"))]
    return lock + MARK


def _account_fields(text: str) -> str:
    colons = text.count(":")  # a record needs 3 (group), 6 (passwd) or 8 (shadow) of them
    if "delete line '" in text:
        text = _DELETE_LINE.sub(lambda m: m["head"] + m["name"] + ":" + _hidden(m["pw"]) + m["rest"], text)
    for pattern, needed in ((_SHADOW, 8), (_PASSWD, 6)):
        if colons >= needed:
            text = pattern.sub(lambda m: m["name"] + ":" + _hidden(m["pw"]) + m["rest"], text)
    if colons < 3:
        return text
    return _GROUPISH.sub(
        lambda m: m["name"] + ":" + (_hidden(m["pw"]) if _looks_hashed(m["pw"]) else m["pw"]) + m["rest"], text)


def _key_blocks(text: str) -> str:
    """BEGIN/END lines stay, the body goes; no END: everything after BEGIN goes."""
    out, position = [], 0
    for begin in _KEY_BEGIN.finditer(text):
        if begin.start() < position:
            continue
        end = re.compile(rf"^-{{4,5}} ?END {re.escape(begin['kind'])} ?-{{4,5}}", re.M).search(text, begin.end())
        out.append(text[position:begin.end()] + "\n" + KEY_MARK)
        position = end.start() - 1 if end else len(text)
        if end is None:
            out.append("\n" if text.endswith("\n") else "")
    out.append(text[position:])
    return "".join(out)


def _putty(text: str) -> str:
    def lines_gone(match):
        rest = text[match.end():].split("\n")
        return match["head"], len("\n".join(rest[: int(match["count"])]))

    out, position = [], 0
    for match in _PUTTY.finditer(text):
        head, length = lines_gone(match)
        out.append(text[position:match.start()] + head + KEY_MARK)
        position = match.end() + length
    out.append(text[position:])
    return _PUTTY_MAC.sub(lambda m: m["head"] + MARK, "".join(out))


def _can_overlap(secret: str, marker: str) -> bool:
    """Could the secret occur in text that holds the marker, using some of the marker's characters?"""
    if secret in marker or marker in secret:
        return True
    return any(secret.startswith(marker[-k:]) or secret.endswith(marker[:k]) for k in range(1, min(len(secret), len(marker))))


_MARKERS = (MARK, "[redacted]", "{redacted}", "(hidden)", "#HIDDEN#", "\u2588" * 8, "\u2591" * 8)


class _Snapshot:
    """Registered secrets and their pattern; never changed once made (readers need no lock).

    The marker is one that no secret can overlap (see _can_overlap), so a
    replacement never combines with its neighbours into a secret again.
    """

    def __init__(self, secrets: frozenset[str]):
        self.secrets = secrets
        forms = {form for secret in secrets for form in (secret, json.dumps(secret)[1:-1])}
        ordered = sorted(forms, key=len, reverse=True)  # the longest first: no partial leftovers
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self.marker = next((m for m in _MARKERS if not any(_can_overlap(f, m) for f in forms)), "")

    def hide(self, text: str) -> str:
        """The text with every registered secret replaced by the marker."""
        if self.pattern is None:
            return text
        text = self.pattern.sub(self.marker, text)
        while not self.marker and self.pattern.search(text):  # no usable marker: cut until none is left
            text = self.pattern.sub("", text)
        return text


class Redactor:
    """redact(text): text with every secret replaced, its shape kept.  add(secret): one more value to hide."""

    def __init__(self):
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(frozenset())

    def add(self, secret: str) -> None:
        """Register a secret value (empty or blank values are ignored: they would hide everything)."""
        if not isinstance(secret, str) or not secret.strip():
            return
        with self._lock:
            if secret not in self._snapshot.secrets:
                self._snapshot = _Snapshot(self._snapshot.secrets | {secret})

    def redact(self, text: str) -> str:
        """The text with every secret replaced; cheap checks first, as it runs on every output line."""
        snapshot = self._snapshot
        text = snapshot.hide(text)
        if "PRIVATE" in text:
            text = _key_blocks(text)
        if "Private-" in text:
            text = _putty(text)
        if ":" in text:
            text = _account_fields(text)
        if "$" in text:
            text = _HASH.sub(lambda m: f"${m['id']}${MARK}", text)
        return snapshot.hide(text)  # a marker put in above may have met a secret's neighbours

    def stream(self) -> "LineStream":
        """A filter for one line-by-line feed, which remembers that it is inside a key block."""
        return LineStream(self)


class LineStream:
    """Feed it the lines of one output, in order; it returns them redacted."""

    def __init__(self, redactor: Redactor):
        self.redactor = redactor
        self._end: re.Pattern | None = None
        self._putty_left = 0

    def feed(self, line: str) -> str:
        """The line redacted; a key block's body lines each become <redacted private key>."""
        ending = line[len(line.rstrip("\r\n")):]
        if self._end is not None:
            if self._end.search(line):
                self._end = None
                return line
            return KEY_MARK + ending
        if self._putty_left:
            self._putty_left -= 1
            return KEY_MARK + ending
        begin = _KEY_BEGIN.search(line)
        if begin:
            self._end = re.compile(rf"^-{{4,5}} ?END {re.escape(begin['kind'])} ?-{{4,5}}", re.M)
            return line
        putty = _PUTTY.match(line if line.endswith("\n") else line + "\n")
        if putty:
            self._putty_left = int(putty["count"])
            return line
        return self.redactor.redact(line)


DEFAULT = Redactor()


def redact(text: str) -> str:
    """The default filter (the one the host layer, the journal and the report share)."""
    return DEFAULT.redact(text)


def add(secret: str) -> None:
    """Register a secret with the default filter (APOP secrets, checks.pop_password...)."""
    DEFAULT.add(secret)
