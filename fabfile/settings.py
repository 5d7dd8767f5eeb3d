"""Load and validate hosts.toml: who is who, and every value of the runbook.

One frozen dataclass per hosts.toml section (fabfile/schema.py): each key's
type, default and meaning live there, in one place, as Ansible's
`argument_spec` keeps them. This module reads the TOML, checks it against
that schema, resolves paths, checks the relations between values and the
values that would be dangerous on the night, and builds the typed
`Settings` the code reads (`settings.checks.pop_user`).

Validation collects every problem before it reports, so an operator fixes a
broken file in one pass instead of one error per run. Nothing here touches
a host; nothing here imports Fabric.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema
from .schema import HOST_KEYS, IDENTITY_KEYS, ROLES, SECTIONS, SettingsError, check_type  # noqa: F401 (re-exported)

DEFAULT_HOSTS_FILE = Path(__file__).resolve().parent.parent / "hosts.toml"


@dataclass(frozen=True)
class Identity:
    hostname: str = ""
    fqdn: str = ""
    ip: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class HostSpec:
    alias: str
    role: str
    user: str
    port: int
    key: str | None
    address: str
    address_after: str
    before: Identity
    after: Identity
    machine: str = ""
    aliases: tuple[str, ...] = ()

    def address_for(self, swapped: bool) -> str:
        return self.address_after if swapped else self.address

    def hostname_for(self, swapped: bool) -> str:
        return (self.after if swapped else self.before).hostname

    def label(self) -> str:
        return f"{self.alias} ({self.before.hostname or self.address})"


@dataclass(frozen=True)
class Settings(schema.Sections):
    """The validated hosts file: `path`, `hosts`, and one typed section per hosts.toml table."""

    path: Path = Path()
    hosts: dict[str, HostSpec] = field(default_factory=dict)

    def by_role(self, role: str) -> HostSpec:
        for spec in self.hosts.values():
            if spec.role == role:
                return spec
        raise KeyError(f"no host with role {role!r} in {self.path}")

    def host(self, alias: str) -> HostSpec:
        try:
            return self.hosts[alias]
        except KeyError:
            known = ", ".join(self.hosts)
            raise SettingsError(self.path, [f"unknown host {alias!r}: use one of {known} (the [hosts.*] tables)"]) from None

    def replace(self, **sections: dict[str, Any]) -> "Settings":
        """A copy with some keys changed: `settings.replace(operator={"journal": "/tmp/j"})` (tests, tools)."""
        changed = {name: dataclasses.replace(getattr(self, name), **values) for name, values in sections.items()}
        return dataclasses.replace(self, **changed)

    def with_hosts(self, **changes: dict[str, Any]) -> "Settings":
        """A copy with some host fields changed: `settings.with_hosts(old={"address": "..."})`."""
        hosts = dict(self.hosts)
        for alias, fields in changes.items():
            hosts[alias] = dataclasses.replace(hosts[alias], **fields)
        return dataclasses.replace(self, hosts=hosts)


def hosts_file_path(explicit: str | os.PathLike | None = None) -> Path:
    """The hosts file in force: explicit, else $SERVERSWAP_HOSTS, else ./hosts.toml of the project."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("SERVERSWAP_HOSTS")
    if env:
        return Path(env).expanduser().resolve()
    return DEFAULT_HOSTS_FILE


def load(path: str | os.PathLike | None = None) -> Settings:
    path = hosts_file_path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(path, ["file not found: create it from the shipped hosts.toml or set SERVERSWAP_HOSTS"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(path, [f"not valid TOML ({exc}): fix the syntax at that line"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(path, [f"cannot read it ({exc.__class__.__name__}: {exc}): check the path and its permissions"]) from None
    return parse(raw, path)


def parse(raw: dict[str, Any], path: Path) -> Settings:
    problems: list[str] = []
    base = path.parent
    for name in raw:
        if name != "hosts" and name not in SECTIONS:
            problems.append(f"[{name}]: unknown section (known: hosts, {', '.join(SECTIONS)})")
    sections = {name: schema.build_section(name, cls, raw.get(name), base, problems) for name, cls in SECTIONS.items()}
    hosts = _parse_hosts(raw.get("hosts"), base, problems)
    if not problems:
        settings = Settings(path=path, hosts=hosts, **sections)
        _check_relations(settings, problems)
        schema.check_dangers(settings, problems)
        if not problems:
            return settings
    raise SettingsError(path, problems)


def _host_problems(where: str, spec: dict, problems: list[str]) -> bool:
    bad = False
    for key, value in spec.items():
        if key not in HOST_KEYS:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(HOST_KEYS)})")
            bad = True
            continue
        problem = check_type(value, HOST_KEYS[key][0])
        if problem:
            problems.append(f"{where}.{key}: {problem}")
            bad = True
    if "role" not in spec:
        problems.append(f"{where}.role: missing (one of {', '.join(ROLES)})")
        return True
    if not bad and spec["role"] not in ROLES:
        problems.append(f"{where}.role: {spec['role']!r} is not one of {', '.join(ROLES)}")
        return True
    return bad


def _parse_host(alias: str, spec: dict, base: Path, problems: list[str]) -> HostSpec | None:
    where = f"hosts.{alias}"
    if not isinstance(spec, dict):
        problems.append(f"{where}: must be a table")
        return None
    if _host_problems(where, spec, problems):
        return None
    before = Identity(**spec.get("before", {}))
    after = Identity(**spec.get("after", spec.get("before", {})))
    for label, ident in (("before", before), ("after", after)):
        if ident.ip:
            try:
                ipaddress.ip_address(ident.ip)
            except ValueError:
                problems.append(f"{where}.{label}.ip: {ident.ip!r} is not an IP address")
    address = spec.get("address") or before.ip
    if not address:
        problems.append(f"{where}.address: missing (and no before.ip to default to)")
        return None
    if not before.hostname:
        problems.append(f"{where}.before.hostname: missing (the role guard compares it with the host's name)")
    port = spec.get("port", 22)
    if not 0 < port < 65536:
        problems.append(f"{where}.port: {port} is not a TCP port")
    return HostSpec(
        alias=alias, role=spec["role"], user=spec.get("user", "root"), port=port,
        key=schema.resolve_path(spec["key"], base) if spec.get("key") else None,
        address=address, address_after=after.ip if (after.ip and address == before.ip) else address,
        before=before, after=after, machine=spec.get("machine", ""), aliases=tuple(spec.get("aliases", ())),
    )


def _parse_hosts(table: Any, base: Path, problems: list[str]) -> dict[str, HostSpec]:
    if not isinstance(table, dict) or not table:
        problems.append("[hosts]: missing; add [hosts.old], [hosts.new] and [hosts.backup]")
        return {}
    hosts = {alias: _parse_host(alias, spec, base, problems) for alias, spec in table.items()}
    return {alias: spec for alias, spec in hosts.items() if spec is not None}


def _check_roles(hosts: dict[str, HostSpec], problems: list[str]) -> None:
    roles: dict[str, str] = {}
    for alias, spec in hosts.items():
        if spec.role in roles:
            problems.append(f"hosts.{alias}.role: {spec.role!r} is also the role of hosts.{roles[spec.role]}; each role once")
        roles.setdefault(spec.role, alias)
    for role in ("old", "new"):
        if hosts and role not in roles:
            problems.append(f"hosts: no host has role {role!r}; add [hosts.{role}] with role = \"{role}\"")


def _check_after_addresses(hosts: dict[str, HostSpec], problems: list[str]) -> None:
    for alias, spec in hosts.items():
        if spec.role not in ("old", "new"):
            continue
        if not (spec.after.ip and spec.after.hostname):
            problems.append(f"hosts.{alias}.after: needs hostname and ip (the identity after the swap)")
        for other_alias, other in hosts.items():
            if other_alias == alias or not spec.after.ip:
                continue
            if spec.after.ip == other.after.ip:
                problems.append(f"hosts.{alias}.after.ip: {spec.after.ip} is also hosts.{other_alias}'s address after the swap")
            elif other.role == "backup" and spec.after.ip == other.address:
                problems.append(f"hosts.{alias}.after.ip: {spec.after.ip} is hosts.{other_alias}'s address")


def _check_relations(s: Settings, problems: list[str]) -> None:
    _check_roles(s.hosts, problems)
    _check_after_addresses(s.hosts, problems)
    if s.accounts.uid_min > s.accounts.uid_max:
        problems.append("accounts.uid_min: greater than accounts.uid_max")
    if s.bind.host and s.hosts and s.bind.host not in s.hosts:
        problems.append(f"bind.host: {s.bind.host!r} is not a host alias (one of {', '.join(s.hosts)})")
    for key in ("lowered", "normal"):
        value = getattr(s.ttl, key)
        if not 0 < value < 2**31:
            problems.append(f"ttl.{key}: {value} is not a valid TTL")
    if s.checks.pop_method not in ("apop", "user"):
        problems.append(f"checks.pop_method: {s.checks.pop_method!r} is not apop or user")
    for i, script in enumerate(s.backup_check.scripts):
        if set(script) != {"run", "log"} or not all(isinstance(v, str) for v in script.values()):
            problems.append(f"backup_check.scripts[{i}]: needs exactly run and log, both strings")
