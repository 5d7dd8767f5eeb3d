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

In zone files the swap works record by record on the zone model
(edit/zone.py): names are resolved against the origin before they are
compared, reverse owners follow the addresses, and names referred to in
MX/NS/CNAME/SOA data follow only the names that disappear (swap_zone).

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
from . import zone as _zone

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


# ---- the swap in zone data, on the zone model (C8) -------------------------------------------

ADDRESS_TYPES = {"A", "AAAA", "PTR"}
_NAME_FIELDS = {"NS": (0,), "CNAME": (0,), "DNAME": (0,), "PTR": (0,), "MB": (0,), "MG": (0,), "MR": (0,),
                "MD": (0,), "MF": (0,), "MX": (1,), "AFSDB": (1,), "RT": (1,), "KX": (1,), "SRV": (3,),
                "NAPTR": (5,), "SOA": (0,), "RP": (1,)}
_MAILBOX_FIELDS = {"SOA": (1,), "RP": (0,), "MINFO": (0, 1)}
_ADDRESS_FIELDS = {"A": (0,), "AAAA": (0,)}
_TEXT_TYPES = {"TXT", "SPF"}


def reverse_name(ip: str) -> str:
    """133.30.109.22 -> 22.109.30.133.in-addr.arpa."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _reverse_table(mapping: Mapping[str, str]) -> dict[str, str]:
    table = {}
    for source, target in mapping.items():
        try:
            if ipaddress.ip_address(source).version == 4 and ipaddress.ip_address(target).version == 4:
                table[reverse_name(source).lower()] = reverse_name(target)
        except ValueError:
            continue
    return table


def _swapped_name(written: str, origin: str | None, table: Swap) -> str | None:
    """The name to write instead of `written` (kept relative if it was), or None to keep it."""
    if written == "@":
        return None
    full = _zone.absolute(written, origin)
    if full is None:  # relative to an unknown origin: compare as written
        return table.target(written)
    hit = table.target(full[:-1] if full != "." else ".", style=written)
    if hit is None:
        return None
    return hit + "." if _zone.is_absolute(written) else _zone.relative(hit + ".", origin)


def _swapped_mailbox(written: str, origin: str | None, table: Swap) -> str | None:
    """root.itpass.example.jp. is root@itpass.example.jp: only its host part is a host name."""
    match = re.match(r"((?:[^.\\]|\\.)*)\.(.+)$", written, re.DOTALL)
    if match is None:
        return None
    host = _swapped_name(match[2], origin, table)
    return None if host is None else f"{match[1]}.{host}"


def _splice_if(record: _zone.Record, token: _zone.Token, new: str | None) -> list[_zone.Splice]:
    if new is None or new == token.text:
        return []
    return [_zone.Splice(record.entry.file, token.start, token.end, new)]


def _rdata_splices(record: _zone.Record, full: Swap, refs: Swap) -> list[_zone.Splice]:
    """Addresses and names in the data; names referred to (MX, NS, CNAME...) follow only vanishing names."""
    data, rtype, splices = record.entry.rdata, record.rtype, []
    table = full if rtype in ADDRESS_TYPES else refs
    for i in _ADDRESS_FIELDS.get(rtype, ()):
        if i < len(data):
            splices += _splice_if(record, data[i], full.target(data[i].text))
    for i in _NAME_FIELDS.get(rtype, ()):
        if i < len(data):
            splices += _splice_if(record, data[i], _swapped_name(data[i].text, record.origin, table))
    for i in _MAILBOX_FIELDS.get(rtype, ()):
        if i < len(data):
            splices += _splice_if(record, data[i], _swapped_mailbox(data[i].text, record.origin, table))
    if rtype in _TEXT_TYPES:
        for token in data:
            splices += _splice_if(record, token, refs.sub(token.text))
    return splices


def _owner_splices(record: _zone.Record, full: Swap | None, reverse: dict[str, str] | None) -> list[_zone.Splice]:
    token = record.entry.owner
    if token is None or token.text == "@":
        return []
    new = None
    if reverse and record.owner is not None and record.owner.lower() in reverse:
        target = reverse[record.owner.lower()]
        new = target if _zone.is_absolute(token.text) else _zone.relative(target, record.origin)
    if new is None and full is not None:
        new = _swapped_name(token.text, record.origin, full)
    return _splice_if(record, token, new)


_GEN = re.compile(r"\$\$|\\.|\$\{(-?\d+)(?:,(\d+)(?:,([doxXnN]))?)?\}|\$", re.DOTALL)
GENERATE_CHECK_LIMIT = 65536


def _generated(template: str, value: int) -> str | None:
    """BIND's genname() for one iteration; None for the nibble forms (ip6.arpa labels, never a swapped name)."""
    nibble = False

    def substitute(match):
        nonlocal nibble
        text = match.group()
        if text == "$$" or text.startswith("\\"):
            return text[1:] if text == "$$" else text
        if text == "$":
            return str(value)
        offset, width, base = int(match[1]), int(match[2] or 0), match[3] or "d"
        nibble = nibble or base in "nN"
        return "" if base in "nN" else format(value + offset, f"0{width}{base}" if width else base)

    made = _GEN.sub(substitute, template)
    return None if nibble else made


def _generate_range(entry: _zone.Entry) -> range:
    span = re.fullmatch(r"(\d+)-(\d+)(?:/(\d+))?", entry.rdata[0].text)
    if span is None or int(span[3] or 1) < 1:
        raise _zone.ZoneError(f"{entry.file}: line {entry.line}: $GENERATE range {entry.rdata[0].text!r} is not start-stop[/step]")
    values = range(int(span[1]), int(span[2]) + 1, int(span[3] or 1))
    if len(values) > GENERATE_CHECK_LIMIT:
        raise _zone.ZoneError(f"{entry.file}: line {entry.line}: $GENERATE range too large to check against the swap")
    return values


def _check_generates(zone: _zone.Zone, mapping: Mapping[str, str]) -> None:
    """Refuse a $GENERATE that produces a name or address of the swap: its template cannot be swapped."""
    keys = {key.rstrip(".").lower() for key in mapping} | {name[:-1] for name in _reverse_table(mapping)}
    for record in zone.records:
        if not record.generated or record.entry.file != zone.main:
            continue
        templates = (record.entry.rdata[1].text, record.entry.rdata[-1].text)
        for value in _generate_range(record.entry):
            for made in filter(None, (_generated(t, value) for t in templates)):
                full = (_zone.absolute(made, record.origin) or made).rstrip(".").lower()
                if made.lower() in keys or full in keys:
                    raise _zone.ZoneError(f"{zone.main}: line {record.entry.line}: $GENERATE makes {made} "
                                    f"(the swap's own name or address): swap it by hand")


def _swap_splices(zone: _zone.Zone, mapping: Mapping[str, str], *, forward: bool, reverse: bool) -> list[_zone.Splice]:
    full = Swap(mapping)
    refs = Swap(reference_mapping(mapping))
    table = _reverse_table(mapping) if reverse else None
    _check_generates(zone, mapping)
    splices = []
    for record in zone.records:
        if record.generated or record.entry.file != zone.main:
            continue
        splices += _owner_splices(record, full if forward else None, table)
        if forward:
            splices += _rdata_splices(record, full, refs)
    return splices


def _swapped(text: str, mapping, origin, name: str, *, forward: bool, reverse: bool) -> str:
    if not mapping:
        return text
    zone = _zone.load(text, name=name, origin=origin)
    return _zone.apply_splices(zone, _swap_splices(zone, mapping, forward=forward, reverse=reverse)).get(name, text)


def swap_zone(text: str, mapping: Mapping[str, str], origin: str | None = None, *, name: str = "zone file") -> str:
    """Swap a zone's names record by record (reverse owners aside: swap_reverse_owners).

    Owners and the data of A/AAAA/PTR records get the whole mapping (the
    record `itpass A .22` becomes `old-itpass A .21`); names referred to in
    other records (MX, NS, CNAME, SRV, SOA, TXT text) only the names that
    disappear (identity.reference_mapping). A name matches as DNS matches:
    whole and case-insensitively, after resolving it against the origin,
    and keeps being written relative when it was. Comments, directives,
    `@` and data of other types stay; a $GENERATE that could produce a
    swapped name is refused.
    """
    return _swapped(text, mapping, origin, name, forward=True, reverse=False)


def swap_reverse_owners(text: str, mapping: Mapping[str, str], origin: str | None, *, name: str = "zone file") -> str:
    """Swap owners that are reversed mapped IPv4 addresses (`21` <-> `22` under 109.30.133.in-addr.arpa.).

    A relative owner while no origin is known stays as it is.
    """
    return _swapped(text, mapping, origin, name, forward=False, reverse=True)


def swap_zone_text(text: str, mapping: Mapping[str, str], *, origin: str | None, today: datetime.date,
                   name: str = "zone file") -> str:
    """swap_zone and swap_reverse_owners in one pass, the SOA serial bumped when anything changed."""
    after = _swapped(text, mapping, origin, name, forward=True, reverse=True)
    if after != text:
        after = _zone.bump_serial(after, today, name=name)
    return after


def swap_text(text: str, mapping: Mapping[str, str], *, zone: bool, origin: str | None = None,
              today: datetime.date | None = None, name: str = "file") -> str:
    """The swapped text; a zone file record by record (swap_zone_text: reverse owners too, serial bumped)."""
    if not zone:
        return swap_tokens(text, mapping)
    return swap_zone_text(text, mapping, origin=origin, today=today or datetime.date.today(), name=name)
