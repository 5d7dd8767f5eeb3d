"""C8 + C9: old and new exchange names and addresses, file by file, on both hosts.

One mapping (fabfile/edit/identity.identity_mapping) holds every name AND
every address of both hosts, applied in a single pass (swap_tokens), so that
`itpass -> old-itpass` and `ika-itpass -> itpass` cannot chain.

Zone files are swapped record by record (swap_zone), because a blind token
swap is wrong there in two ways. (1) The A records need the address swap too:
`itpass A .22` must become `old-itpass A .21`, otherwise old-itpass points at
old's *before* address and V6 fails (the runbook's C9 only lists /etc/hosts and
interfaces). (2) Names *referred to* in MX/NS/CNAME/SOA data mean a role, not a
machine: `MX 10 itpass.` is the service, which is new after the swap, so it must
stay; only names that disappear (`ika-itpass`) follow their machine. A reverse
zone also needs its owners swapped (`22` <-> `21` under 109.30.133.in-addr.arpa.),
which a token swap cannot see (swap_reverse_owners). Every changed zone file
gets its SOA serial bumped and must pass named-checkzone before it is installed.

A swap is its own inverse: run twice, it would swap back. So "already done"
cannot be read from the text; it is read from the journal: a file whose
current sha256 is the one C8 wrote is unchanged; a file back at the sha256
C8 found (restored from its backup, or a reset lab) is swapped again; a file
that is neither is refused, with the fix.

The pure helpers at the top import no Fabric (unit-tested on strings).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..edit.identity import identity_mapping, is_leftover, reference_mapping, reverse_name, site_domains, swap_text  # noqa: F401 (re-exported)

STEP = "C8"


def mapping_for(settings) -> dict[str, str]:
    """The single-pass name+address mapping of hosts.toml's old and new."""
    old, new = settings.by_role("old"), settings.by_role("new")
    return identity_mapping(old.before.as_dict(), old.after.as_dict(), new.before.as_dict(), new.after.as_dict())


def site_fqdns(settings) -> list[str]:
    return [i.fqdn for spec in settings.hosts.values() for i in (spec.before, spec.after) if i.fqdn]


@dataclass
class SwapState:
    action: str          # "swap", "done" (already swapped), "conflict"
    detail: str = ""


def swap_state(records, alias: str, path: str, current_sha: str) -> SwapState:
    """Decide from the journal whether `path` on `alias` still needs the swap (see module doc)."""
    records = list(records)
    undone = {r.get("tx") for r in records if r.get("event") == "intent" and r.get("state") == "rolled-back"}
    last = None
    for record in records:   # the swap's own edits; not a restore, not an edit a roll-back took back
        if (record.get("step") == STEP and record.get("event") == "change" and record.get("host") == alias
                and record.get("path") == path and record.get("sha256_after") and record.get("sha256_before")
                and not (record.get("tx") and record["tx"] in undone)):
            last = record
    if last is None or current_sha == last.get("sha256_before"):
        return SwapState("swap")
    if current_sha == last["sha256_after"]:
        return SwapState("done", f"swapped at {last.get('time', '?')}")
    return SwapState(
        "conflict",
        f"{path} changed since C8 swapped it at {last.get('time', '?')} (backup {last.get('backup')}); "
        f"a second swap would swap it back: check it by hand, or restore the backup and run again",
    )


def parse_grep(output: str) -> list[tuple[str, int, str]]:
    """`grep -rnIwZ` output (file NUL line:text) -> [(file, line, text)]."""
    hits = []
    for raw in output.splitlines():
        name, sep, rest = raw.partition("\0")
        if not sep:
            continue
        number, _, text = rest.partition(":")
        if number.isdigit():
            hits.append((name, int(number), text))
    return hits


def leftover_command(directory: str, names, exclude) -> list[str]:
    return ["grep", "-rnIwZi", *[f"--exclude={e}" for e in exclude], *[a for n in names for a in ("-e", n)], "--", directory]


# ---- the operation --------------------------------------------------------

BACKUP_GLOBS = ["*.serverswap-*", ".*.serverswap-tmp"]


class _Refused(Exception):
    """A file the journal says C8 already swapped and someone changed since (SwapState "conflict")."""


def _transform_for(host, records, path, swap):
    """The swap of one file, unless the journal says C8 already swapped it (see swap_state)."""
    from ..hostfiles import ENCODING, sha256

    def transform(text):
        state = swap_state(records, host.alias, path, sha256(text.encode(ENCODING, "surrogateescape")))
        if state.action == "conflict":
            raise _Refused(state.detail)
        if state.action == "done":
            host.say(f"{path}: already swapped ({state.detail})")
            return text
        return swap(text)
    return transform


class _ZoneContext:
    """What a zone swap needs from the host, read once (named-checkzone present, named.conf, the host's date)."""

    def __init__(self, step, host):
        from .zones import host_today, read_named_conf, require_checkzone

        require_checkzone(host)
        self.named_conf, self.today = read_named_conf(step, host), host_today(host)


def _swap_one(step, host, records, path, mapping, zones) -> bool:
    """Swap one identity file through the edit contract; True when a zone file changed."""
    from .zones import checkzone, zone_name

    if path not in step.settings.identity.zone_files:
        host.edit(path, _transform_for(host, records, path, lambda t: swap_text(t, mapping, zone=False)))
        return False
    if "context" not in zones:
        zones["context"] = _ZoneContext(step, host)
    context = zones["context"]
    zone = {}

    def swap_zone_text(text):
        zone["name"] = zone_name(text, path, context.named_conf)
        origin = zone["name"] if zone["name"].endswith(".") else zone["name"] + "."
        return swap_text(text, mapping, zone=True, origin=origin, today=context.today, name=path)

    return host.edit(path, _transform_for(host, records, path, swap_zone_text), validate=lambda: checkzone(zone["name"])).changed


def swap_host(step, host, mapping: dict[str, str]) -> list[str]:
    """Swap every identity file on one host, all or nothing; returns the problems (files refused).

    Each file is read once, by Host.edit: whether it still needs the swap
    (journal + its sha256) and a zone's name are decided from that text. A
    failure part-way (a zone that fails named-checkzone, a dropped link) puts
    the files already swapped back; a crash leaves the transaction for the
    next run to roll back (fabfile/transaction.py).
    """
    from ..transaction import Transaction

    records = list(step.session.journal.records())
    present = []
    for path in step.settings.identity.files:
        if host.exists(path):
            present.append(path)
        else:
            host.say(f"{path}: not on {host.alias}, skipped")
            host.record("skipped", path=path, detail="missing on this host")
    problems, zones, zones_changed = [], {}, False
    with Transaction(step, host, present) as tx:
        try:
            for path in present:
                try:
                    zones_changed |= _swap_one(step, host, records, path, mapping, zones)
                except _Refused as refused:
                    host.say(f"{path}: REFUSED: {refused}")
                    problems.append(f"{host.alias}:{refused}")
        except BaseException:
            tx.undo()
            raise
    if zones_changed:
        reload_bind_after_swap(step, host)
    return problems


def reload_bind_after_swap(step, host) -> None:
    from .zones import reload_bind

    reload_bind(step, host)  # else BIND keeps answering the names of before the swap (V6)


def leftovers(step, host) -> list[tuple[str, int, str]]:
    """grep -rIw for the leftover names under identity.leftover_search: a report, not a failure."""
    cfg = step.settings.identity
    if not cfg.leftover_names:
        return []
    result = host.probe(leftover_command(cfg.leftover_search, cfg.leftover_names, BACKUP_GLOBS))
    if result.exited not in (0, 1):
        host.say(f"leftover search: grep exit {result.exited}: {(result.stderr or '').strip().splitlines()[:1]}")
    domains = site_domains(site_fqdns(step.settings))
    hits = [h for h in parse_grep(result.stdout) if is_leftover(h[2], cfg.leftover_names, domains)]  # the swap's own rule
    names = ", ".join(cfg.leftover_names)
    if not hits:
        host.say(f"leftover search: no {names} under {cfg.leftover_search}")
    else:
        host.say(f"leftover search: {len(hits)} line(s) with {names} under {cfg.leftover_search} (check each):")
        for name, number, text in hits:
            host.say(f"  {name}:{number}: {text.strip()[:160]}")
    step.note(f"leftover search on {host.alias}: {len(hits)} hit(s)", leftovers=[f"{n}:{i}" for n, i, _ in hits][:200])
    return hits
