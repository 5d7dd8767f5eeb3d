"""The back-out plan, from the journal alone (pure): what the night changed, and how each goes back.

The night starts at the first real step of phase1 (S1-S4: the outage).
Each file the night changed goes back to the content it had before its
first change (that change's backup and sha256_before); a file the night
created goes away; a service goes back to the state it had before its
first change (running, on at boot); root's authorized_keys on old is
renamed back; identities swap back with a network restart, where C10
moved a host. The accounts C3 merged into new stay, and are said to (or,
with remove_accounts, their four files go back too). The back-out's own
records are not part of the night.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
NIGHT_STEPS = ("S", "C", "D", "N", "V", "B")
BACKOUT = "backout"


@dataclass
class FileUndo:
    host: str
    path: str
    backup: str | None        # the copy of the original (None: the night created the file)
    sha256_before: str | None  # the original's
    sha256_last: str | None    # what the night left (the file must still be that, else someone changed it)
    steps: list[str] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.sha256_before is None


@dataclass
class ServiceUndo:
    host: str
    service: str
    unit: str
    running: bool | None = None     # before the night; None: the night did not change it
    enabled: bool | None = None
    steps: list[str] = field(default_factory=list)


@dataclass
class Plan:
    start: str | None
    swapped: dict[str, bool | None]
    files: list[FileUndo]
    services: list[ServiceUndo]
    authkeys: dict | None            # C6's exposure record, when still renamed
    accounts_added: list[str]
    kept_accounts: list[FileUndo]     # account files left as merged (without remove_accounts)

    @property
    def empty(self) -> bool:
        return not (any(self.swapped.values()) or self.files or self.services or self.authkeys)


def night_start(records) -> str | None:
    for r in records:
        if r.get("event") == "start" and not r.get("dry") and str(r.get("step", ""))[:1] == "S" and r.get("task") != BACKOUT:
            return r["time"]
    return None


def _night(records, start):
    return [r for r in records if start and r.get("time", "") >= start and r.get("task") != BACKOUT and not r.get("dry")]


def file_undos(records) -> list[FileUndo]:
    undos: dict[tuple, FileUndo] = {}
    for r in records:
        if r.get("event") != "change" or not r.get("path") or not r.get("host"):
            continue
        key = (r["host"], r["path"])
        if key not in undos:
            undos[key] = FileUndo(r["host"], r["path"], r.get("backup"), r.get("sha256_before"), r.get("sha256_after"))
        undos[key].sha256_last = r.get("sha256_after")
        undos[key].steps.append(r.get("step") or "?")
    return list(undos.values())


def service_undos(records) -> list[ServiceUndo]:
    undos: dict[tuple, ServiceUndo] = {}
    for r in records:
        if not r.get("service") or not r.get("host"):
            continue
        key = (r["host"], r["service"])
        undo = undos.setdefault(key, ServiceUndo(r["host"], r["service"], r.get("unit") or r["service"]))
        if "running_before" in r and undo.running is None:
            undo.running = bool(r["running_before"])
        if "enabled_before" in r and undo.enabled is None:
            undo.enabled = bool(r["enabled_before"])
        undo.steps.append(r.get("step") or "?")
    return list(undos.values())


def _open_authkeys(records) -> dict | None:
    from .exposures import AUTHKEYS, still_open

    return next((r for r in still_open(records) if r["exposure"] == AUTHKEYS), None)


def plan(records, aliases, *, remove_accounts: bool = False) -> Plan:
    """The back-out of the night in `records` (see the module doc); `aliases` are old's and new's."""
    from .cockpit.status import swap_state

    records = list(records)
    start = night_start(records)
    night = _night(records, start)
    files = file_undos(night)
    kept = [] if remove_accounts else [f for f in files if f.path in ACCOUNT_FILES and "C3" in f.steps]
    files = [f for f in files if f not in kept]
    added = [name for r in night if r.get("accounts_added") for name in r["accounts_added"]]
    return Plan(start, swap_state(records, aliases), files, service_undos(night), _open_authkeys(records), added, kept)


def describe(p: Plan, settings) -> list[str]:
    """The plan for the operator: what will be undone on which host, in which order."""
    if p.start is None:
        return ["nothing to back out: no step of the night (phase1 on) ran"]
    lines = [f"back-out of the night that started {p.start[:19].replace('T', ' ')}, in this order:"]
    moved = [a for a, s in p.swapped.items() if s]
    if any(s is None for s in p.swapped.values()):
        lines.append("  0. a host is UNKNOWN: run `fab locate` first (back-out needs to know where each host is)")
    if p.authkeys:
        lines.append(f"  1. {p.authkeys['host']}: rename {p.authkeys.get('renamed_to')} back to {p.authkeys.get('path')}")
    for f in p.files:
        what = "remove (the night created it)" if f.created else f"restore from {f.backup}"
        lines.append(f"  2. {f.host}: {f.path}: {what} ({'+'.join(dict.fromkeys(f.steps))})")
    if moved:
        lines.append(f"  3. {', '.join(moved)}: restart networking back to the before addresses, found by host key")
    for s in p.services:
        wanted = ", ".join(w for w in (("running" if s.running else "stopped") if s.running is not None else "",
                                       ("on at boot" if s.enabled else "off at boot") if s.enabled is not None else "") if w)
        lines.append(f"  4. {s.host}: {s.service} ({s.unit}) back to {wanted} ({'+'.join(dict.fromkeys(s.steps))})")
    lines.append("  5. mail new received during the window: carried back to old's mailboxes (messages old lacks)")
    if p.accounts_added:
        lines.append(f"  -  accounts merged into new stay ({', '.join(p.accounts_added)}); --remove-accounts puts new's account files back")
    lines.append("  6. check: old serves http, pop, smtp, dns as before the night; new answers at its before address")
    return lines
