"""Load and validate hosts.toml: who is who, and every value of the runbook.

Validation collects every problem before it reports, so an operator fixes a
broken file in one pass instead of one error per run. Nothing here touches
a host; nothing here imports Fabric.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("old", "new", "backup")
DEFAULT_HOSTS_FILE = Path(__file__).resolve().parent.parent / "hosts.toml"


class SettingsError(ValueError):
    """hosts.toml is unusable; str() is one line per problem, each naming its key."""

    def __init__(self, path, problems):
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {p}" for p in self.problems))


# Schema: section -> key -> (type, required). `list[str]` etc. are checked
# element-wise; "path" is a str that is resolved against the file's folder.
_STR, _INT, _BOOL = "str", "int", "bool"
_STRS, _INTS = "list[str]", "list[int]"

SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "operator": {
        "journal": ("path", True),
        "known_hosts": ("path", True),
        "accept_new_host_keys": (_BOOL, False),
        "report_dir": ("path", True),
        "remote_backup_dir": (_STR, False),
        "connect_timeout": (_INT, False),
    },
    "root_login": {
        "sshd_config": (_STR, True),
        "permit_root_login": (_STR, True),
        "comment_out": (_STRS, False),
        "restart": (_STR, True),
    },
    "rsync": {
        "workdir": (_STR, True),
        "source": (_STR, True),
        "dest": (_STR, True),
        "options": (_STRS, True),
        "excludes": (_STRS, False),
        "log": (_STR, True),
        "ssh": (_STR, True),
        "deletion_preview": (_INT, False),
        "real_run_options": (_STRS, False),
    },
    "ttl": {
        "zone_dir": (_STR, True),
        "zone_files": (_STRS, True),
        "lowered": (_INT, True),
        "normal": (_INT, True),
    },
    "resolver": {
        "path": (_STR, True),
        "nameservers": (_STRS, True),
        "search": (_STRS, False),
    },
    "stop_services": {"web": (_STRS, True), "mail": (_STRS, True)},
    "sessions": {"spare_users": (_STRS, False), "login_commands": (_STRS, False)},
    "crontabs": {"dir": (_STR, True)},
    "accounts": {
        "uid_min": (_INT, True),
        "uid_max": (_INT, True),
        "shadow_backup": (_STR, True),
    },
    "authorized_keys": {
        "path": (_STR, True),
        "renamed_to": (_STR, True),
        "new_public_key": (_STR, True),
        "options": (_STR, True),
    },
    "pop_auth": {"path": (_STR, True), "owner": (_STR, True), "group": (_STR, True)},
    "identity": {
        "files": (_STRS, True),
        "zone_files": (_STRS, False),
        "leftover_search": (_STR, True),
        "leftover_names": (_STRS, False),
    },
    "network": {
        "restart": (_STR, True),
        "settle_seconds": (_INT, False),
        "reconnect_timeout": (_INT, False),
    },
    "bind": {
        "host": (_STR, True),
        "etc_dir": (_STR, True),
        "data_dir": (_STR, True),
        "service": (_STR, True),
        "named_conf": (_STR, False),
    },
    "qmail": {
        "control_dir": (_STR, True),
        "files": (_STRS, True),
        "old": (_STRS, True),
        "new": (_STRS, True),
        "service": (_STR, True),
        "showctl": (_STR, False),
    },
    "disable_services": {"services": (_STRS, True)},
    "enable_services": {"services": (_STRS, True)},
    "bouncer": {"list": (_STR, False), "path": (_STR, True), "lines": (_STRS, True)},
    "checks": {
        "http_urls": (_STRS, False),
        "http_marker": (_STR, False),
        "mail_domain": (_STR, False),
        "pop_user": (_STR, False),
        "pop_password": (_STR, False),
        "pop_method": (_STR, False),
        "list_address": (_STR, False),
        "list_member": (_STR, False),
        "dns": ("dict[str,str]", False),
        "manual": (_STRS, False),
        "list_member_password": (_STR, False),
        "timeout": (_INT, False),
        "mail_wait": (_INT, False),
    },
    "backup_check": {
        "user": (_STR, True),
        "group": (_STR, True),
        "dir": (_STR, True),
        "scripts": ("list[dict]", True),
        "tail_lines": (_INT, False),
        "fail_patterns": (_STRS, False),
    },
    "cleanup": {"paths": (_STRS, False)},
    "build_accounts": {"pattern": (_STR, True), "sudoers": (_STR, True)},
}

HOST_KEYS = {
    "role": (_STR, True),
    "address": (_STR, False),
    "user": (_STR, False),
    "port": (_INT, False),
    "key": ("path", False),
    "machine": (_STR, False),
    "aliases": (_STRS, False),
    "before": ("identity", False),
    "after": ("identity", False),
}
IDENTITY_KEYS = ("hostname", "fqdn", "ip")


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


@dataclass
class Settings:
    """The validated hosts file. Sections are plain dicts with defaults filled in."""

    path: Path
    hosts: dict[str, HostSpec]
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

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
            raise SettingsError(
                self.path, [f"unknown host {alias!r}: use one of {known} (the [hosts.*] tables)"]
            ) from None


DEFAULTS = {
    "operator": {"accept_new_host_keys": False, "remote_backup_dir": "", "connect_timeout": 10},
    "root_login": {"comment_out": []},
    "rsync": {"excludes": [], "deletion_preview": 20, "real_run_options": ["--info=name0,progress2"]},
    "resolver": {"search": []},
    "sessions": {"spare_users": ["root"], "login_commands": ["sshd", "bash", "sh", "-bash"]},
    "identity": {"zone_files": [], "leftover_names": []},
    "network": {"settle_seconds": 2, "reconnect_timeout": 60},
    "qmail": {"showctl": "qmail-showctl"},
    "bind": {"named_conf": "named.conf"},
    "bouncer": {"list": ""},
    "checks": {
        "http_urls": [],
        "http_marker": "",
        "mail_domain": "",
        "pop_user": "",
        "pop_password": "",
        "pop_method": "apop",
        "list_address": "",
        "list_member": "",
        "dns": {},
        "manual": [],
        "list_member_password": "",
        "timeout": 10,
        "mail_wait": 60,
    },
    "backup_check": {"tail_lines": 5, "fail_patterns": ["rsync error", "failed", "Permission denied", "No such file"]},
    "cleanup": {"paths": []},
}


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
    return parse(raw, path)


def parse(raw: dict[str, Any], path: Path) -> Settings:
    problems: list[str] = []
    base = path.parent
    sections: dict[str, dict[str, Any]] = {}

    for name in raw:
        if name != "hosts" and name not in SCHEMA:
            problems.append(f"[{name}]: unknown section (known: hosts, {', '.join(SCHEMA)})")
    for name, keys in SCHEMA.items():
        table = raw.get(name)
        if table is None:
            if any(required for _, required in keys.values()):
                problems.append(f"[{name}]: missing section")
                continue
            table = {}
        if not isinstance(table, dict):
            problems.append(f"[{name}]: must be a table")
            continue
        values = dict(DEFAULTS.get(name, {}))
        for key, value in table.items():
            if key not in keys:
                problems.append(f"{name}.{key}: unknown key (known: {', '.join(keys)})")
                continue
            kind, _ = keys[key]
            problem = _check_type(value, kind)
            if problem:
                problems.append(f"{name}.{key}: {problem}")
                continue
            values[key] = _resolve(value, kind, base)
        for key, (_, required) in keys.items():
            if required and key not in table:
                problems.append(f"{name}.{key}: missing (required)")
        sections[name] = values

    hosts = _parse_hosts(raw.get("hosts"), base, problems)
    _check_relations(sections, hosts, problems)
    if problems:
        raise SettingsError(path, problems)
    return Settings(path=path, hosts=hosts, sections=sections)


def _check_type(value: Any, kind: str) -> str | None:
    simple = {_STR: str, "path": str, _INT: int, _BOOL: bool}
    if kind in simple:
        if kind == _INT and isinstance(value, bool):
            return "must be an integer, not true/false"
        if not isinstance(value, simple[kind]):
            return f"must be {'a string' if simple[kind] is str else 'an integer' if kind == _INT else 'true or false'}, got {type(value).__name__}"
        return None
    if kind in (_STRS, _INTS, "list[dict]"):
        element = {_STRS: str, _INTS: int, "list[dict]": dict}[kind]
        if not isinstance(value, list) or not all(isinstance(v, element) for v in value):
            return f"must be a list of {element.__name__}"
        return None
    if kind == "dict[str,str]":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return "must be a table of string values"
        return None
    if kind == "identity":
        if not isinstance(value, dict):
            return "must be a table with hostname, fqdn, ip"
        unknown = set(value) - set(IDENTITY_KEYS)
        if unknown:
            return f"unknown key(s) {', '.join(sorted(unknown))} (known: hostname, fqdn, ip)"
        if not all(isinstance(v, str) for v in value.values()):
            return "hostname, fqdn and ip must be strings"
        return None
    raise AssertionError(kind)


def _resolve(value: Any, kind: str, base: Path) -> Any:
    if kind == "path" and value:
        expanded = Path(value).expanduser()
        return str(expanded if expanded.is_absolute() else (base / expanded).resolve())
    return value


def _parse_hosts(table: Any, base: Path, problems: list[str]) -> dict[str, HostSpec]:
    if not isinstance(table, dict) or not table:
        problems.append("[hosts]: missing; add [hosts.old], [hosts.new] and [hosts.backup]")
        return {}
    hosts: dict[str, HostSpec] = {}
    for alias, spec in table.items():
        where = f"hosts.{alias}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a table")
            continue
        bad = False
        for key, value in spec.items():
            if key not in HOST_KEYS:
                problems.append(f"{where}.{key}: unknown key (known: {', '.join(HOST_KEYS)})")
                bad = True
                continue
            problem = _check_type(value, HOST_KEYS[key][0])
            if problem:
                problems.append(f"{where}.{key}: {problem}")
                bad = True
        if "role" not in spec:
            problems.append(f"{where}.role: missing (one of {', '.join(ROLES)})")
            continue
        if bad:
            continue
        if spec["role"] not in ROLES:
            problems.append(f"{where}.role: {spec['role']!r} is not one of {', '.join(ROLES)}")
            continue
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
            continue
        if not before.hostname:
            problems.append(f"{where}.before.hostname: missing (the role guard compares it with the host's name)")
        port = spec.get("port", 22)
        if not 0 < port < 65536:
            problems.append(f"{where}.port: {port} is not a TCP port")
        address_after = after.ip if (after.ip and address == before.ip) else address
        hosts[alias] = HostSpec(
            alias=alias,
            role=spec["role"],
            user=spec.get("user", "root"),
            port=port,
            key=_resolve(spec["key"], "path", base) if spec.get("key") else None,
            address=address,
            address_after=address_after,
            before=before,
            after=after,
            machine=spec.get("machine", ""),
            aliases=tuple(spec.get("aliases", ())),
        )
    return hosts


def _check_relations(sections: dict[str, dict[str, Any]], hosts: dict[str, HostSpec], problems: list[str]) -> None:
    roles: dict[str, str] = {}
    for alias, spec in hosts.items():
        if spec.role in roles:
            problems.append(f"hosts.{alias}.role: {spec.role!r} is also the role of hosts.{roles[spec.role]}; each role once")
        roles.setdefault(spec.role, alias)
    for role in ("old", "new"):
        if hosts and role not in roles:
            problems.append(f"hosts: no host has role {role!r}; add [hosts.{role}] with role = \"{role}\"")
    for alias, spec in hosts.items():
        if spec.role not in ("old", "new"):
            continue
        if not (spec.after.ip and spec.after.hostname):
            problems.append(f"hosts.{alias}.after: needs hostname and ip (the identity after the swap)")
        for other_alias, other in hosts.items():
            if other_alias == alias or not spec.after.ip:
                continue
            if spec.after.ip == other.after.ip:
                problems.append(
                    f"hosts.{alias}.after.ip: {spec.after.ip} is also hosts.{other_alias}'s address after the swap"
                )
            elif other.role == "backup" and spec.after.ip == other.address:
                problems.append(f"hosts.{alias}.after.ip: {spec.after.ip} is hosts.{other_alias}'s address")
    accounts = sections.get("accounts", {})
    if accounts.get("uid_min", 0) > accounts.get("uid_max", 0):
        problems.append("accounts.uid_min: greater than accounts.uid_max")
    bind = sections.get("bind", {})
    if bind.get("host") and hosts and bind["host"] not in hosts:
        problems.append(f"bind.host: {bind['host']!r} is not a host alias (one of {', '.join(hosts)})")
    ttl = sections.get("ttl", {})
    for key in ("lowered", "normal"):
        if key in ttl and not 0 < ttl[key] < 2**31:
            problems.append(f"ttl.{key}: {ttl[key]} is not a valid TTL")
    checks = sections.get("checks", {})
    if checks.get("pop_method") not in ("apop", "user"):
        problems.append(f"checks.pop_method: {checks.get('pop_method')!r} is not apop or user")
    for i, script in enumerate(sections.get("backup_check", {}).get("scripts", [])):
        if set(script) != {"run", "log"} or not all(isinstance(v, str) for v in script.values()):
            problems.append(f"backup_check.scripts[{i}]: needs exactly run and log, both strings")
