"""authorized_keys: restrict one key with an options prefix (runbook C6).

new's root key stays on old so the nightly /home rsync can run, but only
as that rsync command, only from new.  Keys are matched by their blob
(the base64 field), never by comment, which anyone can edit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from . import EditError, line_body, split_lines_keepends

_KEY_TYPE = re.compile(r"^(?:ssh-[A-Za-z0-9@._-]+|ecdsa-sha2-[A-Za-z0-9@._-]+|sk-[A-Za-z0-9@._-]+)$")


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


def split_options(options: str) -> list[str]:
    """Split an options field on commas outside double quotes.

    `command="a, b",no-pty` is two options.  A backslash escapes a quote
    inside quotes, as sshd reads it.  Blanks outside quotes or an open
    quote mean this is not an options field.
    """
    parts, current, quoted, escaped = [], [], False, False
    for char in options:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == ",":
            parts.append("".join(current))
            current = []
            continue
        elif not quoted and char in " \t":
            raise EditError("blank outside double quotes in the key options")
        current.append(char)
    if quoted:
        raise EditError("unterminated double quote in the key options")
    parts.append("".join(current))
    if any(not part for part in parts):
        raise EditError("empty option in the key options (stray comma)")
    return parts


def _options_field_end(content: str, start: int) -> int:
    """Where the options field ends: the first blank outside quotes."""
    quoted, escaped = False, False
    for position in range(start, len(content)):
        char = content[position]
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in " \t":
            return position
    return len(content)


def _key_at(content: str, start: int) -> tuple[str, str, str] | None:
    """(type, blob, comment) when a key starts at `start`."""
    fields = content[start:].split(None, 2)
    if len(fields) < 2 or not _KEY_TYPE.match(fields[0]):
        return None
    comment = fields[2].strip() if len(fields) > 2 else ""
    return fields[0], fields[1], comment


def parse_key_line(content: str) -> KeyLine | None:
    """Parse one line (no terminator); None for blanks, comments, junk."""
    stripped = content.lstrip(" \t")
    if not stripped or stripped.startswith("#"):
        return None
    indent = content[: len(content) - len(stripped)]
    start = len(indent)
    key = _key_at(content, start)
    if key is not None:
        return KeyLine(indent, None, *key, key_start=start)
    end = _options_field_end(content, start)
    rest = content[end:]
    key_start = end + len(rest) - len(rest.lstrip(" \t"))
    key = _key_at(content, key_start)
    if key is None:
        return None
    return KeyLine(indent, content[start:end], *key, key_start=key_start)


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


def restrict_key(text: str, public_key_line: str, options: str) -> str:
    """Prefix every line holding the key's blob with `options`.

    Every matching line, because an unrestricted duplicate would keep full
    root access.  A line that already carries exactly these options stays;
    one with other options gets them replaced.  Other lines byte for byte.
    """
    options = options.strip()
    split_options(options)
    wanted = parse_key_line(public_key_line.strip())
    if wanted is None:
        raise EditError("the given public key line is not an OpenSSH public key")
    lines = split_lines_keepends(text)
    found = False
    for index, line in enumerate(lines):
        content, ending = line_body(line)
        key = parse_key_line(content)
        if key is None or key.blob != wanted.blob:
            continue
        found = True
        if key.options != options:
            lines[index] = f"{key.indent}{options} {content[key.key_start:]}{ending}"
    if not found:
        raise KeyNotFound(f"authorized_keys has no line for the {_describe(wanted)} key")
    return "".join(lines)
