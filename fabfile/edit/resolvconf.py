"""resolv.conf as the resolver reads it (S1 checks new's against [resolver] in hosts.toml; it never edits).

resolv.conf semantics (resolv.conf(5)): nameservers are asked in the order
written (only the first three count), and `domain` and `search` override
each other, the last one wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAXNS = 3


@dataclass
class Resolver:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> Resolver:
    found = Resolver()
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver" and values:
            found.nameservers.append(values[0])
        elif key == "search":
            found.search = list(values)
        elif key == "domain" and values:
            found.search = [values[0]]
    return found


def compare(found: Resolver, nameservers: list[str], search: list[str]) -> list[str]:
    """Problems, one line each; [] when the file says what hosts.toml says."""
    problems = []
    used = found.nameservers[:MAXNS]
    missing = [ns for ns in nameservers if ns not in used]
    extra = [ns for ns in found.nameservers if ns not in nameservers]
    if missing:
        problems.append(f"nameserver(s) missing: {', '.join(missing)}")
    if extra:
        problems.append(f"nameserver(s) not in hosts.toml: {', '.join(extra)}")
    if not missing and not extra and used != nameservers[:MAXNS]:
        problems.append(f"nameservers in another order: {', '.join(used)} (wanted {', '.join(nameservers)})")
    if len(found.nameservers) > MAXNS and not missing:
        problems.append(f"more than {MAXNS} nameservers: the resolver ignores {', '.join(found.nameservers[MAXNS:])}")
    if search and found.search != search:
        problems.append(f"search is {' '.join(found.search) or '(none)'}, wanted {' '.join(search)}")
    return problems


def wanted_text(nameservers: list[str], search: list[str]) -> str:
    """The lines the operator should put in resolv.conf (the fix a failed S1 shows)."""
    lines = [f"search {' '.join(search)}"] if search else []
    return "\n".join(lines + [f"nameserver {ns}" for ns in nameservers])
