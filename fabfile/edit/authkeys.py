"""authorized_keys: restrict one key with options, as sshd reads them (runbook C6).

new's root key stays on old so the nightly /home rsync can run, but only
as that rsync command, only from new.  Keys are matched by their decoded
blob, never by comment, which anyone can edit.

Parsing follows OpenSSH (9.2 and 10.0 read these files the same way):
auth2-pubkeyfile.c tries the line as a key first, else skips an options
field (sshkey_advance_past_options: blanks end it unless inside double
quotes; backslash-quote is a literal quote) and reads the key after it;
auth-options.c reads the options (flags matched case-insensitively by
prefix, `no-` negates, values in double quotes where only backslash-quote
is an escape, one command/from/principals each).  A line sshd cannot parse
grants nothing, so it is refused rather than "fixed".

Merging never loosens the line: its options stay byte for byte and the
required ones are appended only where they add a restriction.  A
permissive required option (`pty` after `restrict`, `no-touch-required`)
only means C6 does not restrict that; the line keeps what it had.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from . import EditError, line_body, split_lines_keepends

_PLAIN = {
    "ssh-ed25519": "ed25519", "ecdsa-sha2-nistp256": "ecdsa", "ecdsa-sha2-nistp384": "ecdsa",
    "ecdsa-sha2-nistp521": "ecdsa", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa", "rsa-sha2-512": "rsa",
    "ssh-dss": "dsa", "sk-ecdsa-sha2-nistp256@openssh.com": "ecdsa-sk",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com": "ecdsa-sk", "sk-ssh-ed25519@openssh.com": "ed25519-sk",
}
_CERT_SUFFIX = "-cert-v01@openssh.com"
_CERTS = {name.removesuffix("@openssh.com") + _CERT_SUFFIX: family + "-cert" for name, family in _PLAIN.items()
          if not name.startswith("webauthn")}
_SHORT = {"ed25519", "ecdsa", "rsa", "dsa", "ecdsa-sk", "ed25519-sk"}  # sshkey_type_from_name(), plain keys only
# flag options in the order sshauthopt_parse() tries them: (word, may take "no-", state field)
_FLAGS = [("restrict", False, None), ("cert-authority", False, None), ("port-forwarding", True, "port-forwarding"),
          ("agent-forwarding", True, "agent-forwarding"), ("x11-forwarding", True, "x11-forwarding"),
          ("touch-required", True, "touch-required"), ("verify-required", True, "verify-required"),
          ("pty", True, "pty"), ("user-rc", True, "user-rc")]
_VALUED = ["command", "principals", "from", "expiry-time", "environment", "permitopen", "permitlisten", "tunnel"]
_SINGLE = ("command", "principals", "from")
# the restrictions a line carries; True = permissive (what a line without options has)
_FIELDS = ["unrestricted", "port-forwarding", "agent-forwarding", "x11-forwarding", "pty", "user-rc",
           "touch-waived", "verify-waived"]
_DEFAULTS = {name: name != "touch-waived" for name in _FIELDS}
_BY_RESTRICT = ("port-forwarding", "agent-forwarding", "x11-forwarding", "pty", "user-rc")
# the option that sets a field to (permissive, restrictive)
_TOKENS = {"unrestricted": (None, "restrict"), "touch-waived": ("no-touch-required", "touch-required"),
           "verify-waived": ("no-verify-required", "verify-required"),
           **{name: (name, "no-" + name) for name in _BY_RESTRICT}}


class KeyNotFound(EditError):
    """The key to restrict is not in the file (message names type and comment)."""


@dataclass(frozen=True)
class KeyLine:
    """An authorized_keys line split into its parts.

    `key_start` is the offset of the key type in the line content, so a
    rewrite can keep the key, its comment and spacing byte for byte.
    """

    indent: str
    options: str | None
    key_type: str
    blob: str
    comment: str
    key_start: int

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.blob)

    @property
    def is_cert(self) -> bool:
        return _blob_type(self.raw).endswith(_CERT_SUFFIX)


@dataclass(frozen=True)
class Option:
    """One option as sshd parsed it: name (lowercase, without "no-"), negated, dequoted value, verbatim text."""

    name: str
    negated: bool
    value: str | None
    text: str


# ---- reading a line as sshd does ---------------------------------------------------------------


def _blob_type(raw: bytes) -> str:
    """The key type name a key blob starts with ("" if it is no key blob)."""
    if len(raw) < 4:
        return ""
    length = int.from_bytes(raw[:4], "big")
    try:
        return raw[4:4 + length].decode("ascii") if 0 < length <= 64 and len(raw) >= 4 + length else ""
    except UnicodeDecodeError:
        return ""


def _family(name: str) -> str | None:
    if name in _PLAIN:
        return _PLAIN[name]
    if name in _CERTS:
        return _CERTS[name]
    return name.lower() if name.lower() in _SHORT else None


def _key_at(content: str, start: int) -> tuple[str, str, str] | None:
    """(type, blob, comment) when a key sshd can read starts at `start` (sshkey_read)."""
    fields = re.split(r"[ \t]+", content[start:], maxsplit=2)
    if len(fields) < 2 or _family(fields[0]) is None:
        return None
    try:
        raw = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    inner = _blob_type(raw)
    wanted = _family(fields[0])
    if _family(inner) != wanted and not (fields[0].lower() in _SHORT and _family(inner) == wanted):
        return None
    return fields[0], fields[1], fields[2].strip() if len(fields) > 2 else ""


def _options_end(content: str, start: int) -> int:
    """sshkey_advance_past_options(): where the options field ends; -1 on an open quote."""
    quoted, position = False, start
    while position < len(content) and (quoted or content[position] not in " \t"):
        if content[position] == "\\" and content[position + 1:position + 2] == '"':
            position += 1
        elif content[position] == '"':
            quoted = not quoted
        position += 1
    return -1 if quoted else position


def parse_key_line(content: str) -> KeyLine | None:
    """Parse one line (no terminator); None for blanks, comments, and lines sshd reads no key from."""
    stripped = content.lstrip(" \t")
    if not stripped or stripped.startswith("#"):
        return None
    indent = content[: len(content) - len(stripped)]
    start = len(indent)
    key = _key_at(content, start)
    if key is not None:
        return KeyLine(indent, None, *key, key_start=start)
    end = _options_end(content, start)
    if end < 0:
        return None
    key_start = end + len(content[end:]) - len(content[end:].lstrip(" \t"))
    key = _key_at(content, key_start)
    if key is None:
        return None
    return KeyLine(indent, content[start:end], *key, key_start=key_start)


def _dequote(text: str, position: int) -> tuple[str, int]:
    """misc.c opt_dequote(): a double-quoted value; only backslash-quote is an escape."""
    if text[position:position + 1] != '"':
        raise EditError("missing start quote")
    chars, position = [], position + 1
    while position < len(text) and text[position] != '"':
        if text[position] == "\\" and text[position + 1:position + 2] == '"':
            position += 1
        chars.append(text[position])
        position += 1
    if position >= len(text):
        raise EditError("missing end quote")
    return "".join(chars), position + 1


def _flag_at(text: str, position: int) -> tuple[str, bool, int] | None:
    """misc.c opt_flag() over the flag table: (word, negated, end) or None."""
    for word, negatable, _ in _FLAGS:
        at, negated = position, False
        if negatable and text[at:at + 3].lower() == "no-":
            at, negated = at + 3, True
        if text[at:at + len(word)].lower() == word:
            return word, negated, at + len(word)
    return None


def _check_value(name: str, value: str) -> None:
    """The checks sshauthopt_parse() makes on values (a failing one voids the line)."""
    if name == "expiry-time" and not re.fullmatch(r"(\d{8}|\d{12}|\d{14})(Z|UTC)?", value, re.I):
        raise EditError("invalid expires time")
    if name == "environment" and not re.fullmatch(r"[A-Za-z0-9_]+=.*", value, re.S):
        raise EditError("invalid environment string")
    if name == "tunnel" and not (value == "any" or value.isdigit()):
        raise EditError("invalid tun device")
    if name in ("permitopen", "permitlisten"):
        spec = value if ":" in value or name == "permitopen" else "*:" + value
        if not re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+):(\*|\d+)", spec) or spec.endswith(":0"):
            raise EditError("invalid permission port" if ":" in spec else "invalid permission hostname")


def parse_options(text: str) -> list[Option]:
    """auth-options.c sshauthopt_parse(): the options, or EditError with sshd's reason."""
    options, position, seen = [], 0, set()
    while position < len(text) and text[position] not in " \t":
        begin, flag = position, _flag_at(text, position)
        if flag is not None:
            name, negated, position = flag
            value = None
        else:
            name = next((n for n in _VALUED if text[position:position + len(n) + 1].lower() == n + "="), None)
            if name is None:
                raise EditError("unknown key option")
            negated = False
            value, position = _dequote(text, position + len(name) + 1)
            if name in _SINGLE and name in seen:
                raise EditError(f'multiple "{name}" clauses')
            _check_value(name, value)
            seen.add(name)
        options.append(Option(name, negated, value, text[begin:position]))
        if position >= len(text) or text[position] in " \t":
            break
        if text[position] != ",":
            raise EditError("unknown key option")
        position += 1
        if position >= len(text):
            raise EditError("unexpected end-of-options")
    return options


def split_options(options: str) -> list[str]:
    """The options' verbatim texts (command="a, b c",no-pty is two); EditError where sshd refuses."""
    if not options or options[0] in " \t" or options[-1] in " \t":
        raise EditError("blank outside double quotes in the key options" if options else "empty key options")
    parsed = parse_options(options)
    if sum(len(option.text) for option in parsed) + len(parsed) - 1 != len(options):
        raise EditError("blank outside double quotes in the key options")
    return [option.text for option in parsed]


# ---- what a set of options allows, and the merge ----------------------------------------------------


def _apply(state: dict, option: Option) -> dict:
    """The state after one option, as sshauthopt_parse() sets its fields."""
    state = dict(state)
    if option.name == "restrict":
        state.update({name: False for name in _BY_RESTRICT}, unrestricted=False)
    elif option.name in _BY_RESTRICT:
        state[option.name] = not option.negated
    elif option.name in ("touch-required", "verify-required"):
        state[option.name.replace("required", "waived")] = option.negated
    return state


def _state(options: list[Option]) -> tuple[dict, set]:
    """(fields after all options, fields the options mention)."""
    state, mentioned = dict(_DEFAULTS), set()
    for option in options:
        after = _apply(state, option)
        mentioned |= {name for name in _FIELDS if after[name] != state[name] or _mentions(option, name)}
        state = after
    return state, mentioned


def _mentions(option: Option, name: str) -> bool:
    return option.name == name or option.name.replace("required", "waived") == name or (
        option.name == "restrict" and name in (*_BY_RESTRICT, "unrestricted"))


def _values(options: list[Option], name: str) -> list[str]:
    return [option.value for option in options if option.name == name]


def _from_set(value: str) -> set:
    return {entry.strip().lower() for entry in value.split(",")}


def _needed_values(existing: list[Option], required: list[Option], where: str) -> list[Option]:
    """Required valued options the line does not already have; refuse where they conflict."""
    needed = []
    for option in required:
        have = _values(existing, option.name)
        if option.name in ("command", "principals", "from", "tunnel") and have:
            same = _from_set(have[-1]) == _from_set(option.value) if option.name == "from" else have[-1] == option.value
            if not same:
                raise EditError(f"{where}: the key already has {option.name}=\"{have[-1]}\" and C6 needs {option.text}; "
                                f"sshd takes one, and either alone would widen the other: merge them by hand")
        elif option.name == "environment" and option.value.split("=", 1)[0] in {v.split("=", 1)[0] for v in have}:
            if option.value not in have:
                raise EditError(f"{where}: the key already sets environment {option.value.split('=', 1)[0]} differently "
                                f"(sshd keeps the first); fix it by hand")
        elif option.name in ("permitopen", "permitlisten") and have:
            if set(have) != set(_values(required, option.name)):
                raise EditError(f"{where}: the key already has other {option.name} entries than C6 needs; merge them by hand")
        elif option.value is not None and option.value not in have:
            needed.append(option)
    return needed


def _needed_flags(existing: list[Option], required: list[Option]) -> tuple[list[Option], list[str], dict]:
    """Flag options to append so that every restriction of both holds and none is lifted.

    Returns the required flags taken (in their order), the extra flags after
    them, and the state the result must have: a field is permissive only if
    the line allows it and the required set does not restrict it.
    """
    state, _ = _state(existing)
    wanted_state, mentioned = _state(required)
    target = {name: state[name] and (wanted_state[name] if name in mentioned else True) for name in _FIELDS}
    taken = []
    for option in required:
        after = _apply(state, option)
        changed = [name for name in _FIELDS if after[name] != state[name]]
        if option.value is None and changed and all(after[name] == target[name] for name in changed):
            taken.append(option)
            state = after
    extra = []
    if state["unrestricted"] != target["unrestricted"]:
        extra.append("restrict")
        state = _apply(state, Option("restrict", False, None, "restrict"))
    for name in _FIELDS:
        if state[name] != target[name]:
            extra.append(_TOKENS[name][0 if target[name] else 1])
    return taken, extra, target


def merge_options(existing: str | None, required: str, where: str = "authorized_keys") -> str:
    """The line's options plus what `required` adds, at least as narrow as both.

    The existing text is kept verbatim and first; additions follow in the
    required text's order.  Refuses (one line naming `where`) when both set
    a different command=, from=, principals=, tunnel=, environment value or
    permitopen/permitlisten list, since sshd accepts only one and either
    alone would widen the other.
    """
    required_options = parse_options(required)
    if any(option.name == "cert-authority" for option in required_options):
        raise EditError("the required options may not contain cert-authority")
    try:
        existing_options = parse_options(existing) if existing else []
    except EditError as error:
        raise EditError(f"{where}: sshd rejects this line's options ({error}), so it grants nothing; fix it by hand") from None
    values = _needed_values(existing_options, required_options, where)
    taken, extra, target = _needed_flags(existing_options, required_options)
    chosen = [option.text for option in required_options if any(option is other for other in values + taken)]
    merged = ",".join(([existing] if existing else []) + chosen + extra)
    if merged and _state(parse_options(merged))[0] != target:
        raise EditError(f"{where}: the merged options would not carry every restriction (internal check); fix by hand")
    return merged


def fingerprint(blob: str) -> str:
    """SHA256 fingerprint as ssh-keygen -l prints it (no blob in messages)."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "an undecodable key"
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def _describe(key: KeyLine) -> str:
    label = f"{key.key_type} {fingerprint(key.blob)}"
    return f"{label} ({key.comment})" if key.comment else label


def _wanted_key(public_key_line: str) -> KeyLine:
    wanted = parse_key_line(public_key_line.strip())
    if wanted is None or wanted.options is not None:
        raise EditError("the given public key line is not an OpenSSH public key")
    if wanted.is_cert:
        raise EditError(f"the given key is a certificate ({_describe(wanted)}): restrict its CA's line instead")
    return wanted


def _restricted_line(content: str, key: KeyLine, options: str, number: int) -> str:
    where = f"authorized_keys line {number}"
    if key.options and any(o.name == "cert-authority" for o in _safe_parse(key.options)):
        raise EditError(f"{where}: the {_describe(key)} key is marked cert-authority (a CA for certificates, not a login key); "
                        f"restricting it would not restrict logins: fix that line by hand")
    merged = merge_options(key.options, options, where)
    if merged == (key.options or ""):
        return content
    if key.options is None:
        return f"{key.indent}{merged} {content[key.key_start:]}"
    end = len(key.indent) + len(key.options)
    return content[:len(key.indent)] + merged + content[end:]


def _safe_parse(options: str) -> list[Option]:
    try:
        return parse_options(options)
    except EditError:
        return []


def restrict_key(text: str, public_key_line: str, options: str) -> str:
    """Merge `options` into every line holding the key (matched by its decoded blob).

    Every matching line, because sshd tries each line in turn and an
    unrestricted duplicate would keep full root access.  A line already as
    narrow as asked stays byte for byte; other lines are never touched.
    """
    split_options(options.strip())
    options = options.strip()
    wanted = _wanted_key(public_key_line)
    lines, found = split_lines_keepends(text), False
    for index, line in enumerate(lines):
        content, ending = line_body(line)
        key = parse_key_line(content)
        if key is None or key.raw != wanted.raw:
            continue
        found = True
        lines[index] = _restricted_line(content, key, options, index + 1) + ending
    if not found:
        raise KeyNotFound(f"authorized_keys has no line for the {_describe(wanted)} key")
    return "".join(lines)
