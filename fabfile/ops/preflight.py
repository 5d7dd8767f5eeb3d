"""`fab preflight`: the check-up before the night, read-only, one row per check and host.

Run the week before, the day before and first thing on the night. Every
check reads the hosts as they are (nothing is opened, started or written)
and says what it found; a FAIL names the fix. Checks:

  reach       every host reached by key, its host key on record (the journal binds it)
  admin path  the operator's own way into new does not depend on what P1/C1 change
  old->new    what sshd on new would allow for old's root once P1 opens it; old's key is authorised
  rsync       rsync on both ends, its version supports the options; ssh on old knows new's host key under C4's name
  space       new has room (bytes and inodes) for old's /home + 10 %
  services    every service of hosts.toml exists, by the init system, on the host that needs it
  zones       zone files pass named-checkzone and named.conf (with its includes) names them
  files       qmail control files, the bouncer's directory, the backup scripts, pop.auth and its owner
  C6 key      the operator's key is not in the file C6 renames
  clocks      old, new, backup and this machine agree within 5 s
  dns         what each DNS server answers now matches the names and addresses before the swap
"""

from __future__ import annotations

import posixpath
import re
import time

from ..checks import Check, dns_check
from ..commands import Script
from ..errors import RemoteError
from ..services import unit

CLOCK_SKEW = 5.0
MARGIN = 1.10


def row(name: str, host: str, expected: str, seen: str, ok: bool, fix: str = "") -> Check:
    return Check(f"preflight {name}", host, expected, seen, ok, "" if ok else fix, "preflight")


def reach(ctx, alias: str) -> list[Check]:
    spec = ctx.settings.host(alias)
    try:
        host = ctx.host(alias)
    except RemoteError as exc:
        return [row("reach", alias, "SSH by key, host key on record", str(exc).splitlines()[0][:90], False,
                    f"check hosts.{alias} (address, user, key) and operator.known_hosts")]
    bound = ctx.session.journal.host_key(alias) or "?"
    return [row("reach", alias, "SSH by key, host key on record", f"{spec.user}@{host.address}, key {bound.split()[0]}", True)]


def services(ctx) -> list[Check]:
    s = ctx.settings
    needs = [("old", "stop_services.web", s.stop_services.web), ("old", "stop_services.mail", s.stop_services.mail),
             ("old", "disable_services.services", s.disable_services.services), ("new", "enable_services.services", s.enable_services.services),
             ("new", "root_login.restart", (s.root_login.restart,)), ("new", "qmail.service", (s.qmail.service,)),
             ("old", "qmail.service", (s.qmail.service,)), (s.host(s.bind.host).role, "bind.service", (s.bind.service,)),
             ("new", "bind.service", (s.bind.service,))]
    rows = []
    for role, key, names in needs:
        alias = s.by_role(role).alias
        host = ctx.host_or_none(alias)
        if host is None:
            continue
        for name in names:
            u = unit(host, name)
            rows.append(row("services", alias, f"{key}: {name} exists", u.label() + (f" ({u.state})" if u.state else "") if u.exists else "missing",
                            u.exists, f"fix {key} in hosts.toml (a unit or init script name on {alias}), or install it"))
    return rows


def _zone_rows(ctx, host, paths, named_conf) -> list[Check]:
    from .zones import checkzone, zone_name

    rows = []
    for path in paths:
        if not host.exists(path):
            rows.append(row("zones", host.alias, f"{path} exists", "missing", False, "fix the zone file list in hosts.toml"))
            continue
        try:
            name = zone_name(host.read_text(path), path, named_conf)
        except Exception as exc:  # noqa: BLE001 - an EditError naming the construct
            rows.append(row("zones", host.alias, f"{path}: zone known", str(exc)[:90], False, "add $ORIGIN, or declare it in named.conf"))
            continue
        result = host.probe([a if a != "{temp}" else path for a in checkzone(name)])
        rows.append(row("zones", host.alias, f"{path}: named-checkzone {name}", "OK" if result.ok else (result.stdout or result.stderr).strip()[:90],
                        result.ok, f"fix {path} until `named-checkzone {name} {path}` passes"))
        declared = named_conf is not None and zone_declares(named_conf, path)
        rows.append(row("zones", host.alias, f"named.conf names {posixpath.basename(path)}", "yes" if declared else "no", declared,
                        f"add a zone statement with file \"{path}\" to named.conf (or its includes)"))
    return rows


def zone_declares(named_conf: str, path: str) -> bool:
    from .zones import zone_name_from_named_conf

    return zone_name_from_named_conf(named_conf, path) is not None


def zones(ctx) -> list[Check]:
    from .zones import read_named_conf

    s = ctx.settings
    rows = []
    new = ctx.host_or_none(s.by_role("new").alias)
    if new is not None:
        rows += _zone_rows(ctx, new, [posixpath.join(s.ttl.zone_dir, n) for n in s.ttl.zone_files], read_named_conf(ctx, new))
    old = ctx.host_or_none(s.by_role("old").alias)
    if old is not None:
        rows += _zone_rows(ctx, old, [p for p in s.identity.zone_files], read_named_conf(ctx, old))
    return rows


def _exists_row(host, path: str, what: str, fix: str) -> Check:
    ok = host.exists(path)
    return row("files", host.alias, f"{what}: {path}", "present" if ok else "missing", ok, fix)


def files(ctx) -> list[Check]:
    s = ctx.settings
    rows = []
    for role in ("old", "new"):
        host = ctx.host_or_none(s.by_role(role).alias)
        if host is not None:
            rows += [_exists_row(host, posixpath.join(s.qmail.control_dir, n), "qmail control", "fix qmail.control_dir/files") for n in s.qmail.files]
    new = ctx.host_or_none(s.by_role("new").alias)
    if new is not None:
        rows.append(_exists_row(new, posixpath.dirname(s.bouncer.path), "bouncer's directory", "create the list's ml-ctrl directory, or fix bouncer.path"))
        for kind, name in (("user", s.pop_auth.owner), ("group", s.pop_auth.group)):
            ok = new.facts.number_of(kind, name) is not None
            rows.append(row("files", new.alias, f"pop_auth.{'owner' if kind == 'user' else 'group'} {name} exists", "yes" if ok else "no", ok,
                            f"create the {kind} {name} on new (adduser/addgroup), or fix pop_auth"))
    old = ctx.host_or_none(s.by_role("old").alias)
    if old is not None:
        rows.append(_exists_row(old, s.pop_auth.path, "pop.auth on old", "fix pop_auth.path"))
    backup = next((ctx.host_or_none(a) for a, spec in s.hosts.items() if spec.role == "backup"), None)
    for script in s.backup_check.scripts if backup is not None else ():
        program = script["run"].split()[0]
        rows.append(_exists_row(backup, program if program.startswith("/") else posixpath.join(s.backup_check.dir, program),
                                "backup script", "fix backup_check.scripts[].run and .dir"))
    return rows


def c6_key(ctx) -> list[Check]:
    from .authkeys import holds_blob, operator_blob

    s = ctx.settings
    old = ctx.host_or_none(s.by_role("old").alias)
    if old is None:
        return []
    blob = operator_blob(old.spec)
    path = s.authorized_keys.path
    present = old.exists(path) and blob is not None and holds_blob(old.read_text(path), blob)
    return [row("C6 key", old.alias, f"operator's key not in {path}", "it IS there" if present else "not there", not present,
                "put your key in /root/.ssh/authorized_keys2 (sshd reads it too) and remove it from authorized_keys")]


def clocks(ctx) -> list[Check]:
    rows = []
    for alias in ctx.settings.hosts:
        host = ctx.host_or_none(alias)
        if host is None:
            continue
        before = time.time()
        out = host.probe(["date", "+%s.%N"]).stdout.strip()
        after = time.time()
        try:
            skew = float(out) - (before + after) / 2
        except ValueError:
            rows.append(row("clocks", alias, "date +%s answers", out[:40], False, "check the host's date command"))
            continue
        ok = abs(skew) <= CLOCK_SKEW
        rows.append(row("clocks", alias, f"within {CLOCK_SKEW:g} s of this machine", f"{skew:+.1f} s", ok,
                        "set the clock (systemd-timesyncd / ntpdate) on the host or here: the timeline and serial dates depend on it"))
    return rows


def dns(ctx) -> list[Check]:
    s = ctx.settings
    old, new = s.by_role("old"), s.by_role("new")
    names = {spec.before.fqdn: spec.before.ip for spec in (old, new) if spec.before.fqdn and spec.before.ip}
    rows = []
    for spec in (old, new):
        state = ctx.session.journal.swapped(spec.alias)
        if state:
            continue
        for name, address in names.items():
            c = dns_check(spec.address, name, address, s.checks.timeout, host=spec.alias, label="preflight dns")
            c.reason = c.reason and f"{c.reason}; the zone on {spec.alias} must give the names of before the swap"
            rows.append(c)
    return rows


RSYNC_VERSION = re.compile(r"rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)")


def rsync_version(text: str) -> tuple[int, int, int] | None:
    match = RSYNC_VERSION.search(text)
    return tuple(int(x) for x in match.groups()) if match else None


def rsync_rows(ctx) -> list[Check]:
    s = ctx.settings
    rows = []
    for role in ("old", "new"):
        host = ctx.host_or_none(s.by_role(role).alias)
        if host is None:
            continue
        version = rsync_version(host.probe(["rsync", "--version"]).stdout)
        needs31 = any(o.startswith("--info") for o in s.rsync.real_run_options)
        ok = version is not None and (not needs31 or version >= (3, 1, 0))
        seen = ".".join(map(str, version)) if version else "not installed"
        rows.append(row("rsync", host.alias, "rsync installed" + (", >= 3.1 (--info)" if needs31 else ""), seen, ok,
                        "install rsync >= 3.1 on both, or set rsync.real_run_options = []"))
    rows += known_host_rows(ctx)
    return rows


def known_host_rows(ctx) -> list[Check]:
    """ssh on old must know new's host key under the name C4 uses (else rsync stops at a prompt, or trusts a stranger)."""
    s = ctx.settings
    old, new = ctx.host_or_none(s.by_role("old").alias), ctx.host_or_none(s.by_role("new").alias)
    if old is None or new is None:
        return []
    spec = new.spec
    blob = new.server_key().get_base64()
    rows = []
    for name in dict.fromkeys(n for n in (spec.before.fqdn or spec.address,) if n):
        out = old.probe(["ssh-keygen", "-F", name, "-f", "/root/.ssh/known_hosts"]).stdout
        ok = blob in out
        rows.append(row("rsync", old.alias, f"old's root known_hosts has new's key for {name}", "yes" if ok else ("another key" if out.strip() else "no entry"), ok,
                        f"on old as root: ssh-keyscan -t ed25519 {name} >> /root/.ssh/known_hosts (compare the fingerprint with new's)"))
    return rows


def space(ctx) -> list[Check]:
    s = ctx.settings
    old, new = ctx.host_or_none(s.by_role("old").alias), ctx.host_or_none(s.by_role("new").alias)
    if old is None or new is None:
        return []
    used = old.probe(Script('du -sxB1 -- "$1" | cut -f1; find "$1" -xdev | wc -l', s.rsync.source)).stdout.split()
    free = new.probe(["df", "-B1", "--output=avail,iavail", s.rsync.dest]).stdout.split()
    try:
        need_bytes, need_inodes = (int(int(x) * MARGIN) for x in used[:2])
        avail_bytes, avail_inodes = int(free[-2]), int(free[-1])
    except (ValueError, IndexError):
        return [row("space", new.alias, "df/du answer", f"{used} {free}"[:60], False, "check du and df on old and new")]
    return [row("space", new.alias, f"bytes >= {need_bytes} (old's /home + 10 %)", str(avail_bytes), avail_bytes >= need_bytes, "free space on new's /home"),
            row("space", new.alias, f"inodes >= {need_inodes}", str(avail_inodes), avail_inodes >= need_inodes, "free inodes on new's /home")]


NEUTRAL_ADDRESS = "203.0.113.254"  # TEST-NET-3: an address no Match block should name (only evaluated by sshd -T, never contacted)


KEY_LOGIN = ("yes", "prohibit-password")


def admin_path(ctx) -> list[Check]:
    """The operator's login to new survives P1/C1 and P4/C5 (which edit PermitRootLogin for old's connection).

    Safe when the operator does not log in as root, or has a rule of their own
    (a Match block: sshd -T for the operator's address differs from any other
    address), or when both the value P1 sets and the value now let a key in.
    """
    from .sshd import effective

    s = ctx.settings
    new = ctx.host_or_none(s.by_role("new").alias)
    if new is None:
        return []
    if new.spec.user != "root":
        return [row("admin path", new.alias, "operator's login independent of PermitRootLogin", f"logs in as {new.spec.user}", True)]
    operator_ip = new.probe(Script('echo "${SSH_CLIENT%% *}"')).stdout.strip()
    mine = effective(new, {"user": "root", "host": "operator", "addr": operator_ip})
    anyone = effective(new, {"user": "root", "host": "nobody.invalid", "addr": NEUTRAL_ADDRESS})
    opened = effective_word(s.root_login.permit_root_login)
    own_rule = mine != anyone and mine in KEY_LOGIN
    ok = own_rule or (mine in KEY_LOGIN and opened in KEY_LOGIN)
    how = "its own Match rule" if own_rule else f"the global value ({mine}; P1 sets {opened})"
    return [row("admin path", new.alias, "operator's root login survives P1/C1 and P4/C5", f"from {operator_ip}: {how}", ok,
                f"give the operator a way in P1 cannot touch: `Match Address {operator_ip}` + `PermitRootLogin prohibit-password` "
                f"in new's sshd_config, or a sudo account (hosts.{new.spec.alias}.user)")]


def effective_word(value: str) -> str:
    from ..edit.sshd import canonical

    return canonical("permitrootlogin", value)


def old_to_new(ctx) -> list[Check]:
    """What new's sshd would do for old's root (before P1: refused is fine; P1 opens it), and old's key is authorised."""
    from .authkeys import holds_blob
    from .sshd import effective, old_connection, read_config

    s = ctx.settings
    old, new = ctx.host_or_none(s.by_role("old").alias), ctx.host_or_none(s.by_role("new").alias)
    if old is None or new is None:
        return []
    config = read_config(new, s.root_login.sshd_config)
    conn = old_connection(s, config, new)
    now = effective(new, conn)
    after = _after_p1(config, conn, s)
    blob = _root_public_blob(old)
    keys = "/root/.ssh/authorized_keys"
    authorised = blob is not None and new.exists(keys) and holds_blob(new.read_text(keys), blob)
    denied = _denied(new, conn.spec())
    ok = not denied and not after.startswith("refused")
    return [row("old->new", new.alias, f"sshd lets root from {conn.addr} in once P1 opens it",
                f"PermitRootLogin now {now}, after P1 {after}; {denied or 'no Allow/Deny rule against it'}", ok,
                "remove the AllowUsers/DenyUsers rule that refuses root from old, or fix what P1 refuses (shown above)"),
            row("old->new", new.alias, f"old's root key in new's {keys}", "yes" if authorised else "no", authorised,
                f"append old's /root/.ssh/id_*.pub to new's {keys}")]


def _root_public_blob(old) -> str | None:
    from ..edit.authkeys import parse_key_line

    for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
        path = f"/root/.ssh/{name}"
        if old.exists(path):
            key = parse_key_line(old.read_text(path).strip())
            if key:
                return key.blob
    return None


def _after_p1(config, conn, s) -> str:
    """What sshd would say for old once P1's plan is applied (pure: the planner and resolver, nothing written)."""
    from ..edit import EditError
    from ..edit import sshd as sshd_edit

    try:
        plan = sshd_edit.plan_effective(config, "PermitRootLogin", s.root_login.permit_root_login, conn, s.root_login.comment_out,
                                        editable=lambda path: path.startswith("/etc/ssh/"))
    except EditError as exc:
        return f"refused: {exc}"
    return sshd_edit.effective(config.with_texts(plan), "PermitRootLogin", conn) or "default"


def _denied(host, spec: str) -> str:
    out = host.probe(["/usr/sbin/sshd", "-T", "-C", spec]).stdout.lower().splitlines()
    values = {line.split(" ", 1)[0]: line.split(" ", 1)[1] if " " in line else "" for line in out}
    if "root" in values.get("denyusers", "").split():
        return "DenyUsers root"
    allow = values.get("allowusers", "").split()
    if allow and not any(a.split("@")[0] in ("root", "*") for a in allow):
        return f"AllowUsers {' '.join(allow)}"
    return ""


CHECKS = [services, zones, files, c6_key, clocks, dns, rsync_rows, space, admin_path, old_to_new]
