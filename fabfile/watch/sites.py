"""What the watcher asks and where it may go, from hosts.toml alone (pure: no network, no Fabric).

Users reach the site by its public names (checks.http_urls' hosts, the
mail domain, the service name new takes in the swap) through DNS. The
operator's machine may not use the site's DNS (the lab's does not; on the
night it may sit behind another resolver), so the watcher resolves those
names the way the site's users end up doing: by asking the site's own DNS
servers, at the addresses hosts.toml gives old and new before and after
the swap (see probes.SiteResolver). Until a server has answered, it uses
the address hosts.toml ties to the name (the role that serves it), and it
only ever talks to addresses hosts.toml lists for old and new: an answer
pointing elsewhere is ignored, a URL at another address is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

SERVICES = ("http", "dns", "pop", "smtp")
ROLES = ("old", "new")


class WatchError(ValueError):
    """The watcher cannot run as configured; str() is one line naming the setting."""


@dataclass(frozen=True)
class Target:
    """One thing a user asks for, probed over and over: its service, its label in the log, where it goes."""

    service: str
    label: str
    name: str = ""       # a public name to resolve ("" when `address` is fixed)
    address: str = ""    # a fixed address (an IP-literal URL, a DNS server)
    url: str = ""        # http
    qname: str = ""      # dns: the name asked
    mx: bool = False     # smtp: resolve the mail domain as an MTA does (MX, else A)
    group: str = ""      # targets that are alternatives for a user (one name at each DNS server): outages.py


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def listed_addresses(settings) -> frozenset[str]:
    """Every IP address hosts.toml gives old and new (before, after, how the operator reaches them)."""
    found = set()
    for spec in settings.hosts.values():
        if spec.role in ROLES:
            found |= {v for v in (spec.before.ip, spec.after.ip, spec.address, spec.address_after) if v and is_ip(v)}
    return frozenset(found)


def dns_servers(settings) -> tuple[str, ...]:
    """The site's DNS servers: old's and new's addresses, before then after the swap, each once."""
    ordered = []
    for state in ("before", "after"):
        for role in ROLES:
            ip = getattr(settings.by_role(role), state).ip
            if ip and is_ip(ip) and ip not in ordered:
                ordered.append(ip)
    return tuple(ordered)


def names_of(spec, state: str) -> set[str]:
    """The DNS names a host has in one state: its fqdn, and its short names and aliases in the fqdn's domain."""
    ident = getattr(spec, state)
    fqdn = _norm(ident.fqdn)
    names = {fqdn} if fqdn else set()
    domain = fqdn.split(".", 1)[1] if "." in fqdn else ""
    for short in (ident.hostname, *spec.aliases):
        short = _norm(short)
        if short:
            names.add(short if "." in short or not domain else f"{short}.{domain}")
    return names


def addresses_of(settings, name: str) -> dict[str, frozenset[str]]:
    """{"before": ..., "after": ...}: the addresses hosts.toml ties to `name` in each state of the swap."""
    name = _norm(name)
    out = {}
    for state in ("before", "after"):
        out[state] = frozenset(getattr(s, state).ip for s in settings.hosts.values()
                               if s.role in ROLES and getattr(s, state).ip and name in names_of(s, state))
    return out


def dns_expectation(settings, name: str) -> tuple[frozenset[str], bool]:
    """(the addresses a right answer may give for `name`, whether no address is right too).

    The watcher spans the whole night, so a right answer is the name's
    address before the swap or after it (or checks.dns's). A name that has
    an address in one state only (old-itpass exists after the swap) may
    also have none.
    """
    states = addresses_of(settings, name)
    listed = {ip for n, ip in settings.checks.dns.items() if _norm(n) == _norm(name)}
    allowed = states["before"] | states["after"] | frozenset(listed)
    return allowed, not (states["before"] and states["after"])


def fallback_address(settings, name: str, swapped: bool | None) -> str:
    """The address of the role that should serve `name` now (after the swap unless the journal says before); "" if none."""
    states = addresses_of(settings, name)
    first, second = ("before", "after") if swapped is False else ("after", "before")
    chosen = states[first] or states[second]
    return sorted(chosen)[0] if chosen else ""


def site_name(settings) -> str:
    """The public service name: the fqdn new takes in the swap (old's before it)."""
    return _norm(settings.by_role("new").after.fqdn or settings.by_role("old").before.fqdn)


def _http_targets(settings, listed) -> list[Target]:
    targets = []
    for url in settings.checks.http_urls:
        host = urlsplit(url).hostname or ""
        if not host:
            raise WatchError(f"checks.http_urls: {url!r} has no host name")
        if is_ip(host) and host not in listed:
            raise WatchError(f"checks.http_urls: {url!r} is at {host}, which hosts.toml does not list for old or new; refusing")
        targets.append(Target("http", url, name="" if is_ip(host) else _norm(host), address=host if is_ip(host) else "", url=url))
    return targets


def _mail_targets(settings) -> tuple[list[Target], list[str]]:
    cfg = settings.checks
    if not cfg.pop_user:
        return [], ["pop, smtp: checks.pop_user is empty"]
    targets = [Target("pop", f"{cfg.pop_user}@{site_name(settings)}", name=site_name(settings))]
    if not cfg.mail_domain:
        return targets, ["smtp: checks.mail_domain is empty"]
    return targets + [Target("smtp", f"{cfg.pop_user}@{_norm(cfg.mail_domain)}", name=_norm(cfg.mail_domain), mx=True)], []


def plan(settings) -> tuple[list[Target], list[str]]:
    """The targets of every service (http, dns, pop, smtp) and one line per service left out, with why."""
    listed = listed_addresses(settings)
    skipped = [] if settings.checks.http_urls else ["http: checks.http_urls is empty"]
    targets = _http_targets(settings, listed)
    names = [_norm(n) for n in settings.checks.dns]
    targets += [Target("dns", f"{n} @ {server}", address=server, qname=n, group=n)
                for server in dns_servers(settings) for n in names]
    if not names:
        skipped.append("dns: checks.dns is empty")
    mail, why = _mail_targets(settings)
    return targets + mail, skipped + why
