"""The hosts.toml schema: one frozen dataclass per section, each key's type, default and meaning.

Like Ansible's `argument_spec`, every option is described once, here: the
loader (settings.py) validates against it, the code reads the typed values
(`settings.rsync.excludes`), and the README's configuration reference is
generated from it (`reference_table`, kept in sync by a test).

Kinds: "str", "int", "float", "bool", "path" (a str resolved against the hosts
file's folder), "command" (a str split into words as a shell would, and
then run as that argv, never by a shell), "list[str]", "list[dict]",
"dict[str,str]". Lists become tuples (the settings are frozen). A key
without a default is required.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import posixpath
import shlex
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("old", "new", "backup")
IDENTITY_KEYS = ("hostname", "fqdn", "ip")
# Services no step may stop or disable: they are the operator's way in.
PROTECTED_SERVICES = ("ssh", "sshd", "ssh.service", "sshd.service", "openssh-server", "ssh.socket")


class SettingsError(ValueError):
    """hosts.toml is unusable; str() is one line per problem, each naming its key."""

    def __init__(self, path, problems):
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {p}" for p in self.problems))


def key(kind: str, doc: str, default: Any = MISSING, step: str = ""):
    """One hosts.toml key: its kind, its meaning (with the step that uses it) and its default."""
    meta = {"kind": kind, "doc": doc, "step": step}
    if default is MISSING:
        return field(metadata=meta)
    if isinstance(default, (list, dict)):
        frozen = tuple(default) if isinstance(default, list) else dict(default)
        return field(default_factory=lambda: frozen, metadata=meta)
    return field(default=default, metadata=meta)


def section(cls):
    return dataclass(frozen=True, kw_only=True)(cls)


@section
class Operator:
    journal: str = key("path", "the journal on the operator's machine (JSON lines)")
    known_hosts: str = key("path", "host keys every connection is checked against")
    accept_new_host_keys: bool = key("bool", "record a first-seen host key (never a changed one)", False)
    report_dir: str = key("path", "where `fab report` writes report.html/report.md, and local copies of rsync lists")
    remote_backup_dir: str = key("str", '"" = backups beside the edited file (`FILE.serverswap-STAMP`); else a directory on each host', "")
    connect_timeout: int = key("int", "seconds to wait for an SSH connection", 10)
    keepalive: int = key("int", "seconds between SSH keepalives on every connection (and ServerAliveInterval of rsync's ssh); 0 = off", 5)
    stall_timeout: int = key("int", "a transfer with no progress for this many seconds is stopped (rsync --timeout)", 60)


@section
class RootLogin:
    sshd_config: str = key("str", "new's sshd_config (its Includes are followed)", step="P1/C1, P4/C5")
    permit_root_login: str = key("str", "PermitRootLogin while open for old (seed: `yes`; `prohibit-password` = keys only)", step="P1/C1")
    comment_out: tuple = key("list[str]", "lines commented out while open", [], step="P1/C1")
    restart: str = key("str", "sshd's service (unit or init script name)", step="P1/C1, P4/C5")


@section
class Rsync:
    workdir: str = key("str", "where rsync runs on old", step="P2-P3, C4")
    source: str = key("str", "`/home/` (with the slash: the contents)", step="P2-P3, C4")
    dest: str = key("str", "`/home/` on new (with the slash)", step="P2-P3, C4")
    options: tuple = key("list[str]", "`-av --delete -x`", step="P2-P3, C4")
    excludes: tuple = key("list[str]", "--exclude patterns (the seed's: `chikuwa*`, `aquota.user`, `gate`)", [], step="P2-P3, C4")
    log: str = key("str", "the dry run's list on old", step="P2")
    ssh: str = key("str", "the -e value (keepalive options are added)", step="P2-P3, C4")
    deletion_preview: int = key("int", "deletions shown by name in the summary", 20, step="P2, C4")
    real_run_options: tuple = key("list[str]", "added to the real run only: one progress line, the per-file list stays in `LOG.real` on old; `[]` for rsync < 3.1",
                                  ["--info=name0,progress2"], step="P3, C4")


@section
class Ttl:
    zone_dir: str = key("str", "directory of the zone files", step="Z1, A2")
    zone_files: tuple = key("list[str]", "zone files, relative to zone_dir", step="Z1, A2")
    lowered: int = key("int", "the TTL during the swap (seconds)", step="Z1")
    normal: int = key("int", "the TTL restored a week later (seconds)", step="A2")


@section
class Resolver:
    path: str = key("str", "new's resolv.conf", step="S1")
    nameservers: tuple = key("list[str]", "nameservers it must list, in order", step="S1")
    search: tuple = key("list[str]", "its search domains", [], step="S1")


@section
class StopServices:
    web: tuple = key("list[str]", "services stopped on old until boot", step="S2")
    mail: tuple = key("list[str]", "mail services stopped on old until boot", step="S4")


@section
class Sessions:
    spare_users: tuple = key("list[str]", "never killed, besides the operator's own session and system daemons", ["root"], step="S3")
    login_commands: tuple = key("list[str]", "what counts as a login", ["sshd", "bash", "sh", "-bash"], step="S3")


@section
class Crontabs:
    dir: str = key("str", "the crontab directory copied old -> new", step="C2")


@section
class Accounts:
    uid_min: int = key("int", "first UID of the users merged", step="C3")
    uid_max: int = key("int", "last UID of the users merged", step="C3")
    shadow_backup: str = key("str", "the runbook's copy of new's shadow before the merge", step="C3")


@section
class AuthorizedKeys:
    path: str = key("str", "root's authorized_keys on old", step="C6")
    renamed_to: str = key("str", "what it is renamed to", step="C6")
    new_public_key: str = key("str", "on new: the key whose line gets the options", step="C6")
    options: str = key("str", "the options the line gets (merged with its own)", step="C6")


@section
class PopAuth:
    path: str = key("str", "the POP password database", step="C7")
    owner: str = key("str", "its owner on new", step="C7")
    group: str = key("str", "its group on new", step="C7")


@section
class IdentityFiles:
    files: tuple = key("list[str]", "files whose names and addresses are swapped", step="C8+C9")
    zone_files: tuple = key("list[str]", "which of them are zone files (swapped record by record)", [], step="C8+C9")
    leftover_search: str = key("str", "directory searched for leftover names afterwards", step="C8")
    leftover_names: tuple = key("list[str]", "the names searched for", [], step="C8")


@section
class Network:
    restart: tuple = key("command", "the command that restarts networking (run detached)", step="C10")
    settle_seconds: int = key("int", "seconds between the launches and the restarts", 2, step="C10")
    reconnect_timeout: int = key("int", "seconds to find a host at its after address", 60, step="C10, D5")


@section
class Bind:
    host: str = key("str", "the host that runs D1-D2 (the seed shows new$ under old)", step="D1, D2")
    etc_dir: str = key("str", "BIND's configuration directory", step="D1, A2")
    data_dir: str = key("str", "the zone data directory under etc_dir, copied as DIR-YYYYMMDD", step="D1, A2")
    service: str = key("str", "BIND's service (`bind`, `bind9` or `named`)", step="D2, Z1, C8, A2")
    named_conf: str = key("str", "named.conf, relative to etc_dir (its includes are followed): names the zone of a file", "named.conf", step="Z1, A2, C8")


@section
class Qmail:
    control_dir: str = key("str", "qmail's control directory", step="D4, N1")
    files: tuple = key("list[str]", "control files set (locals, rcpthosts)", step="D4, N1")
    old: tuple = key("list[str]", "their lines on old", step="D4")
    new: tuple = key("list[str]", "their lines on new (the site's domains)", step="N1")
    service: str = key("str", "qmail's service", step="S4, D4, N1")
    showctl: tuple = key("command", "the qmail-showctl command", "qmail-showctl", step="N1")
    mailbox: str = key("str", "each user's mailbox, relative to the home (qmail's ./Mailbox, mbox)", "Mailbox", step="backout, watch")


@section
class ServiceList:
    services: tuple = key("list[str]", "services (init script or unit names)")


@section
class Bouncer:
    list: str = key("str", "the list's address", "", step="N2")
    path: str = key("str", "the bouncer file", step="N2")
    lines: tuple = key("list[str]", "its exact lines", step="N2")


@section
class Checks:
    http_urls: tuple = key("list[str]", "URLs V1 gets", [], step="V1, V5")
    http_marker: str = key("str", 'text the page must contain ("" = any 2xx/3xx)', "", step="V1")
    mail_domain: str = key("str", "the site's mail domain", "", step="V3")
    pop_user: str = key("str", 'a mailbox for V2/V3 ("" = skip)', "", step="V2, V3")
    pop_password: str = key("str", "APOP secret of pop_user (never shown)", "", step="V2, V3")
    pop_method: str = key("str", "`apop` or `user`", "apop", step="V2")
    list_address: str = key("str", "the list V4 writes to", "", step="V4")
    list_member: str = key("str", "a member whose mailbox V4 reads", "", step="V4")
    dns: dict = key("dict[str,str]", "name -> address, asked of both DNS servers", {}, step="V6")
    manual: tuple = key("list[str]", "checks only a person can do", [], step="V1-V4")
    list_member_password: str = key("str", '"" = pop_password when list_member is pop_user, else V4 is MANUAL', "", step="V4")
    timeout: int = key("int", "seconds per connection of a check", 10, step="V1-V6")
    mail_wait: int = key("int", "seconds V3/V4 wait for their test message", 60, step="V3, V4")


@section
class BackupCheck:
    user: str = key("str", "the user the scripts run as", step="B1")
    group: str = key("str", "their group", step="B1")
    dir: str = key("str", "where they run", step="B1")
    scripts: tuple = key("list[dict]", "`{run, log}` each: the dry-run command line and its log", step="B1")
    tail_lines: int = key("int", "log lines shown", 5, step="B1")
    fail_patterns: tuple = key("list[str]", "any of these in the tail (any case) is a FAIL",
                               ["rsync error", "failed", "Permission denied", "No such file"], step="B1")


@section
class Cleanup:
    paths: tuple = key("list[str]", "the copies from old kept for reference", [], step="A1")


@section
class BuildAccounts:
    pattern: str = key("str", "the build accounts (fnmatch)", step="A3")
    sudoers: str = key("str", "sudoers (its includes are followed)", step="A3")


@section
class Watch:
    http_marker: str = key("str", 'text the page must hold for the watcher ("" = checks.http_marker); both old\'s and new\'s page must hold it', "", step="watch")
    rate: int = key("int", "probes a second per service target", 5, step="watch")
    timeout: int = key("int", "seconds per connection of a probe", 1, step="watch")
    mail_every: float = key("float", "a tagged test message every so many seconds", 1.0, step="watch")
    max_messages: int = key("int", "at most this many test messages in one run", 1000, step="watch")


SECTIONS: dict[str, type] = {
    "operator": Operator, "root_login": RootLogin, "rsync": Rsync, "ttl": Ttl, "resolver": Resolver,
    "stop_services": StopServices, "sessions": Sessions, "crontabs": Crontabs, "accounts": Accounts,
    "authorized_keys": AuthorizedKeys, "pop_auth": PopAuth, "identity": IdentityFiles, "network": Network,
    "bind": Bind, "qmail": Qmail, "disable_services": ServiceList, "enable_services": ServiceList,
    "bouncer": Bouncer, "checks": Checks, "backup_check": BackupCheck, "cleanup": Cleanup, "build_accounts": BuildAccounts,
    "watch": Watch,
}
SECTION_STEPS = {"disable_services": "D3", "enable_services": "N3"}

HOST_KEYS = {
    "role": ("str", "`old`, `new` or `backup`, each once"),
    "address": ("str", "how the operator reaches it before the swap (default `before.ip`; after the swap `after.ip`)"),
    "user": ("str", "SSH login user (default root)"),
    "port": ("int", "SSH port (default 22)"),
    "key": ("path", "SSH private key (default: keys from ~/.ssh)"),
    "machine": ("str", "machine name (`ika`, `tako`)"),
    "aliases": ("list[str]", "other DNS names"),
    "before": ("identity", "`hostname`, `fqdn`, `ip` before the swap (C8/C9; the role guard)"),
    "after": ("identity", "`hostname`, `fqdn`, `ip` after the swap"),
}


# A dataclass whose fields are the sections: Settings (settings.py) extends it.
Sections = dataclass(frozen=True, kw_only=True)(
    type("Sections", (), {"__annotations__": {name: cls for name, cls in SECTIONS.items()}})
)


def keys_of(cls) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def _check_simple(value: Any, kind: str) -> str | None:
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"must be a number, got {type(value).__name__}"
    wanted = {"str": str, "path": str, "int": int, "bool": bool}[kind]
    if kind == "int" and isinstance(value, bool):
        return "must be an integer, not true/false"
    if not isinstance(value, wanted):
        words = {str: "a string", int: "an integer", bool: "true or false"}[wanted]
        return f"must be {words}, got {type(value).__name__}"
    return None


def _check_command(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string (a command line), got {type(value).__name__}"
    try:
        words = shlex.split(value)
    except ValueError as exc:
        return f"cannot be split into words ({exc}); check its quotes"
    return None if words else "must not be empty"


def _check_list(value: Any, element: type) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, element) for v in value):
        return f"must be a list of {element.__name__}"
    return None


def _check_table(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return "must be a table of string values"
    return None


def _check_identity(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a table with hostname, fqdn, ip"
    unknown = set(value) - set(IDENTITY_KEYS)
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))} (known: hostname, fqdn, ip)"
    if not all(isinstance(v, str) for v in value.values()):
        return "hostname, fqdn and ip must be strings"
    return None


CHECKS = {
    "str": lambda v: _check_simple(v, "str"), "path": lambda v: _check_simple(v, "path"),
    "int": lambda v: _check_simple(v, "int"), "bool": lambda v: _check_simple(v, "bool"), "float": lambda v: _check_simple(v, "float"),
    "command": _check_command, "list[str]": lambda v: _check_list(v, str), "list[dict]": lambda v: _check_list(v, dict),
    "dict[str,str]": _check_table, "identity": _check_identity,
}


def check_type(value: Any, kind: str) -> str | None:
    """None when `value` is of `kind`, else the problem (one phrase)."""
    return CHECKS[kind](value)


def resolve_path(value: str, base: Path) -> str:
    expanded = Path(value).expanduser()
    return str(expanded if expanded.is_absolute() else (base / expanded).resolve())


def _convert(value: Any, kind: str, base: Path) -> Any:
    if kind == "path" and value:
        return resolve_path(value, base)
    if kind.startswith("list["):
        return tuple(value)
    if kind == "command":
        return tuple(shlex.split(value))
    return value


def build_section(name: str, cls, table: Any, base: Path, problems: list[str]):
    """The typed section from its TOML table; problems appended (one line each, naming the key)."""
    fields = {f.name: f for f in keys_of(cls)}
    required = [f.name for f in fields.values() if f.default is MISSING and f.default_factory is MISSING]
    if table is None:
        if required:
            problems.append(f"[{name}]: missing section")
        table = {}
    if not isinstance(table, dict):
        problems.append(f"[{name}]: must be a table")
        return None
    values = {}
    for key_name, value in table.items():
        spec = fields.get(key_name)
        if spec is None:
            problems.append(f"{name}.{key_name}: unknown key (known: {', '.join(fields)})")
            continue
        problem = check_type(value, spec.metadata["kind"])
        if problem:
            problems.append(f"{name}.{key_name}: {problem}")
            continue
        values[key_name] = _convert(value, spec.metadata["kind"], base)
    missing = [k for k in required if k not in table]
    if table:  # a missing section was reported above, as one line
        problems.extend(f"{name}.{k}: missing (required)" for k in missing)
    if missing or len(values) < len(table):
        return None
    return cls(**values)


# ---- values that would do harm on the night -------------------------------------------


def _inside(path: str, directory: str) -> bool:
    normal = posixpath.normpath(posixpath.join(directory, path))
    return normal == posixpath.normpath(directory) or normal.startswith(posixpath.normpath(directory).rstrip("/") + "/")


def _danger_paths(s, problems: list[str]) -> None:
    for key_name in ("source", "dest"):
        value = getattr(s.rsync, key_name)
        if not value.endswith("/"):
            problems.append(f"rsync.{key_name}: {value!r} has no trailing slash: rsync would copy the directory itself "
                            f"({value}/{posixpath.basename(value.rstrip('/'))} on new); write {value.rstrip('/')}/")
    for name in s.ttl.zone_files:
        if name.startswith("/") or ".." in name.split("/") or not _inside(name, s.ttl.zone_dir):
            problems.append(f"ttl.zone_files: {name!r} is not a file inside ttl.zone_dir ({s.ttl.zone_dir}); name it relative, without ..")
    for name in s.identity.zone_files:
        if name not in s.identity.files:
            problems.append(f"identity.zone_files: {name!r} is not in identity.files; list it there too")
    for path in tuple(s.identity.files) + (s.crontabs.dir, s.pop_auth.path, s.root_login.sshd_config, s.build_accounts.sudoers):
        if not path.startswith("/") or ".." in path.split("/"):
            problems.append(f"{_key_of(s, path)}: {path!r} must be an absolute path without ..")
    if not s.bind.data_dir or "/" in s.bind.data_dir.strip("/") or ".." in s.bind.data_dir:
        problems.append(f"bind.data_dir: {s.bind.data_dir!r} must be one directory name under bind.etc_dir")


def _key_of(s, value: str) -> str:
    for name in SECTIONS:
        for f in keys_of(SECTIONS[name]):
            current = getattr(getattr(s, name), f.name)
            if current == value or (isinstance(current, tuple) and value in current):
                return f"{name}.{f.name}"
    return "a path"


def _danger_services(s, problems: list[str]) -> None:
    lists = {"stop_services.web": s.stop_services.web, "stop_services.mail": s.stop_services.mail,
             "disable_services.services": s.disable_services.services}
    for where, names in lists.items():
        for name in names:
            if name in PROTECTED_SERVICES or fnmatch.fnmatch(name, "ssh*.service"):
                problems.append(f"{where}: {name!r} is sshd: stopping or disabling it cuts the operator off; remove it from the list")


def check_dangers(s, problems: list[str]) -> None:
    """Values that load fine but would do harm (issue: dangerous settings refused at load time)."""
    _danger_paths(s, problems)
    _danger_services(s, problems)


# ---- the README's configuration reference ---------------------------------------------


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not MISSING:
        value = f.default
    elif f.default_factory is not MISSING:
        value = f.default_factory()
    else:
        return "required"
    if isinstance(value, tuple) and f.metadata["kind"] == "command":
        value = shlex.join(value)
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value!r}`".replace("'", '"') if not isinstance(value, (dict, list)) or value else f"`{'[]' if isinstance(value, list) else '{}'}`"


def reference_table() -> str:
    """The configuration reference (Markdown), generated from the schema: one row per key."""
    rows = ["| key | type | default | meaning (step) |", "| --- | --- | --- | --- |"]
    for name, (kind, doc) in HOST_KEYS.items():
        rows.append(f"| `hosts.<alias>.{name}` | {kind} | {'required' if name == 'role' else '-'} | {doc} |")
    for name, cls in SECTIONS.items():
        for f in keys_of(cls):
            step = f.metadata["step"] or SECTION_STEPS.get(name, "")
            doc = f.metadata["doc"] + (f" ({step})" if step else "")
            rows.append(f"| `{name}.{f.name}` | {f.metadata['kind']} | {_default_text(f)} | {doc} |")
    return "\n".join(rows)
