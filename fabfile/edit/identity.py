"""Swap the site's host names and addresses (runbook C8 names, C9 addresses), and find what is left.

old and new trade identities: ``itpass`` becomes ``old-itpass`` while
``ika-itpass`` becomes ``itpass``.  Doing one replacement after the other
would turn both into the same name, so every replacement happens in one
pass over the text.

A name matches the way DNS compares names: as a whole name and
case-insensitively.  In a text, a name is a run of letters, digits, ``-``,
``_`` joined by dots; the run must equal a listed name.  So
``Itpass.Scitec.Kobe-U.Ac.Jp`` is the site's host, while ``itpass.example.jp``,
``mail.itpass.example.jp`` (a foreign domain) and
``www.itpass.scitec.kobe-u.ac.jp`` (another host under the site's name,
swapped only if hosts.toml lists it) are other names and stay.  The host
part of ``user@itpass.scitec.kobe-u.ac.jp`` is a name; the local part of
an address (``itpass@...``), a path component (``/home/itpass``) and a
``~itpass`` are not: they name users and files.  An IPv4 address matches
whole: never inside a longer address (``133.30.109.221``, ``1.133.30.109.22``).

The replacement keeps the case style of what it replaces: ``ITPASS`` ->
``OLD-ITPASS``, ``Itpass`` -> ``Old-Itpass`` (title case per label),
anything else -> the target as hosts.toml writes it.

The leftover search after C8 uses the same matcher (find_leftovers), so
the op layer can grep broadly (``grep -rIwi``) and keep only the hits it
confirms.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Iterable, Mapping

from . import EditError, line_body, split_lines_keepends

IDENTITY_KEYS = ("hostname", "fqdn", "ip")

_RUN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _kind(value: str) -> str:
    """"address" or "name"; anything else cannot be swapped safely and is refused."""
    if not value or not value.strip() or "\n" in value:
        raise EditError(f"cannot swap an empty or multi-line token: {value!r}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is not None and address.version == 6:
        raise EditError(f"IPv6 addresses are not swapped (only names and IPv4): {value}")
    if address is not None and _IPV4.fullmatch(value):
        return "address"
    if _NAME.fullmatch(value) and value != ".":
        return "name"
    raise EditError(f"not a host name or an IPv4 address: {value!r}")


def _cased(written: str, target: str) -> str:
    """The target in the case style of what it replaces (DNS ignores case; readers do not)."""
    if written.isupper():
        return target.upper()
    if written.islower() or not any(char.isalpha() for char in written):
        return target
    if written == written.title():
        return target.title()
    return target


def _is_name(text: str, start: int, end: int) -> bool:
    """Whether a run stands where a host name can: not a mail local part, a path component or ~user."""
    if text[end:end + 1] == "@":
        return False
    before = text[start - 1:start] if start else ""
    if before == "~":
        return False
    return not (before == "/" and text[max(start - 2, 0):start] != "//")


class Swap:
    """A name+address mapping compiled for one pass of whole-name, case-insensitive matching."""

    def __init__(self, mapping: Mapping[str, str]):
        self.names: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        for key, target in mapping.items():
            self._add(key, target)

    def _add(self, key: str, target: str) -> None:
        kind = _kind(key)
        if _kind(target) != kind:
            raise EditError(f"cannot swap {key!r} for {target!r}: a name becomes a name, an address an address")
        table, norm = (self.addresses, key) if kind == "address" else (self.names, key.rstrip(".").lower())
        target = target if kind == "address" else target.rstrip(".")
        if table.get(norm, target) != target:
            raise EditError(f"{key} would become both {table[norm]} and {target}")
        table[norm] = target

    def target(self, word: str, *, style: str | None = None) -> str | None:
        """The replacement of a whole name or address, or None when it is not one of the mapping's."""
        if _IPV4.fullmatch(word):
            return self.addresses.get(word)
        hit = self.names.get(word.rstrip(".").lower())
        if hit is None:
            return None
        return _cased(style if style is not None else word, hit) + ("." if word.endswith(".") and style is None else "")

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, replacement) of every listed name or address in the text."""
        found = []
        for match in _RUN.finditer(text):
            if _is_name(text, match.start(), match.end()):
                target = self.target(match.group())
                if target is not None:
                    found.append((match.start(), match.end(), target))
        return found

    def sub(self, text: str) -> str:
        pieces, position = [], 0
        for start, end, target in self.spans(text):
            pieces += [text[position:start], target]
            position = end
        return "".join(pieces) + text[position:]


def swap_tokens(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every listed name and address of the text by its target, all at once (no chaining)."""
    if not mapping:
        return text
    return Swap(mapping).sub(text)


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


def reference_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """The part of the mapping for names *referred to* (MX, NS, CNAME, SOA data).

    A name that still exists after the swap keeps meaning the same role:
    `MX 10 itpass.` means the service, which is new afterwards, so it stays.
    A name that disappears (`ika-itpass`) follows its machine. Addresses are
    not references.
    """
    targets = {target.rstrip(".").lower() for target in mapping.values()}
    return {k: v for k, v in mapping.items() if k.rstrip(".").lower() not in targets and _kind(k) == "name"}


def site_domains(fqdns: Iterable[str]) -> list[str]:
    """The site's domains from its hosts' fqdns: itpass.scitec.kobe-u.ac.jp -> scitec.kobe-u.ac.jp."""
    return sorted({fqdn.rstrip(".").split(".", 1)[1].lower() for fqdn in fqdns if fqdn and "." in fqdn.rstrip(".")})


def _leftover_swap(names: Iterable[str], domains: Iterable[str]) -> Swap | None:
    names, domains = [n for n in names if n], [d.rstrip(".") for d in domains if d]
    keys = set(names)
    for name in names:
        if "." not in name and _kind(name) == "name":
            keys |= {f"{name}.{domain}" for domain in domains}
    return Swap({key: key for key in keys}) if keys else None


def is_leftover(line: str, names: Iterable[str], domains: Iterable[str] = ()) -> bool:
    """Whether the line names one of `names` as a host (the swap's rule; a short name also under `domains`)."""
    finder = _leftover_swap(names, domains)
    return bool(finder and finder.spans(line))


def find_leftovers(text: str, names: Iterable[str], domains: Iterable[str] = ()) -> list[tuple[int, str]]:
    """(line number, line) wherever a name occurs as a host name, by the swap's own rule.

    `ika` finds `ika`, `IKA`, `root@ika` and, with domains=["scitec.kobe-u.ac.jp"],
    `ika.scitec.kobe-u.ac.jp`; not `ika-itpass`, `ika.example.jp` nor `/home/ika`.
    """
    finder = _leftover_swap(names, domains)
    if finder is None:
        return []
    hits = []
    for number, line in enumerate(split_lines_keepends(text), start=1):
        content, _ = line_body(line)
        if finder.spans(content):
            hits.append((number, content))
    return hits


def swap_text(text: str, mapping: Mapping[str, str], *, zone: bool, origin: str | None = None,
              today: datetime.date | None = None, name: str = "file") -> str:
    """The swapped text; a zone file record-aware (zone.swap_zone_text: reverse owners, serial bump)."""
    if not zone:
        return swap_tokens(text, mapping)
    from .zone import swap_zone_text  # zone imports this module for the matcher

    return swap_zone_text(text, mapping, origin=origin, today=today or datetime.date.today(), name=name)
