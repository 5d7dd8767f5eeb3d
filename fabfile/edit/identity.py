"""Swap host names and addresses (runbook C8 names, C9 addresses).

old and new trade identities: ``itpass`` becomes ``old-itpass`` while
``ika-itpass`` becomes ``itpass``.  Doing that one replacement after the
other would turn both into the same name, so all replacements happen in
one pass over the text.  Only whole tokens are replaced: ``ika`` must not
touch ``ikaX`` or ``ika-itpass``, and 133.30.109.2 not 133.30.109.22.
"""

from __future__ import annotations

import re
from typing import Mapping

from . import EditError, line_body, split_lines_keepends

_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_NAME_CHARS = "A-Za-z0-9-"
IDENTITY_KEYS = ("hostname", "fqdn", "ip")


def _token_pattern(key: str) -> str:
    """The regex for one key as a whole token.

    A name is bounded by characters outside [A-Za-z0-9-]; so in
    ``itpass.scitec.kobe-u.ac.jp`` the ``itpass`` is a token (callers list
    the fqdn too, and longest-first lets it win).  An IPv4 address is
    bounded by non-digits and must not continue or follow as ``.digit``.
    """
    escaped = re.escape(key)
    if _IPV4.match(key):
        return rf"(?<![0-9])(?<![0-9]\.){escaped}(?![0-9])(?!\.[0-9])"
    return rf"(?<![{_NAME_CHARS}]){escaped}(?![{_NAME_CHARS}])"


def swap_tokens(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every key of mapping by its value, all at once."""
    if not mapping:
        return text
    for key in mapping:
        if not key or not key.strip() or "\n" in key:
            raise EditError(f"cannot swap an empty or multi-line token: {key!r}")
    keys = sorted(mapping, key=lambda k: (-len(k), k))
    pattern = re.compile("|".join(f"(?:{_token_pattern(key)})" for key in keys))
    return pattern.sub(lambda match: mapping[match.group()], text)


def _add(mapping: dict[str, str], before: Mapping[str, str], after: Mapping[str, str]) -> None:
    for key in IDENTITY_KEYS:
        if not before.get(key) or not after.get(key) or before[key] == after[key]:
            continue
        source, target = before[key], after[key]
        if mapping.get(source, target) != target:
            raise EditError(f"{source} would become both {mapping[source]} and {target}")
        mapping[source] = target


def identity_mapping(
    old_before: Mapping[str, str],
    old_after: Mapping[str, str],
    new_before: Mapping[str, str],
    new_after: Mapping[str, str],
) -> dict[str, str]:
    """The single-pass mapping for both hosts' names and addresses."""
    mapping: dict[str, str] = {}
    _add(mapping, old_before, old_after)
    _add(mapping, new_before, new_after)
    return mapping


def find_leftovers(text: str, names: list[str]) -> list[tuple[int, str]]:
    """(line number, line) wherever a name occurs as a word, like grep -w."""
    names = [name for name in names if name]
    if not names:
        return []
    pattern = re.compile("|".join(rf"\b{re.escape(name)}\b" for name in names))
    hits = []
    for number, line in enumerate(split_lines_keepends(text), start=1):
        content, _ = line_body(line)
        if pattern.search(content):
            hits.append((number, content))
    return hits
