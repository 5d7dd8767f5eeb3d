"""`fab backout`: put the site back as it was before the night (the plan: fabfile/backout_plan.py).

Order: root's authorized_keys renamed back on old; every file the night
changed restored from its journalled backup (checked by sha256: the backup
must be the original, the file must still be what the night left — a file
someone changed since is not overwritten, it is listed); hosts C10 moved
restart networking back and are found at their before addresses by their
host keys; BIND and qmail read their restored files; every service back to
its state before the night; the mail new received during the window
carried back to old's mailboxes; then checks with the protocol clients:
old serves http, pop, smtp and dns as before the night, new answers at its
before address. Backing out twice is safe: what is already as before is
"unchanged".
"""

from __future__ import annotations

import posixpath
import stat as stat_mod

from .. import checks as ck
from ..edit import mbox
from ..errors import RemoteError
from ..exposures import AUTHKEYS, SERVICES, close_exposure, still_open
from ..hostfiles import sha256
from ..services import ensure_enabled, ensure_running
from ..transaction import Transaction


def rename_keys_back(step, plan) -> None:
    record = plan.authkeys
    if not record:
        return
    old = step.on(record["host"])
    path, renamed = record.get("path"), record.get("renamed_to")
    if old.exists(renamed) and not old.exists(path):
        old.change(["mv", "-n", "--", renamed, path], what=f"mv {renamed} {path}")
    if not step.dry:
        close_exposure(step, old, AUTHKEYS, detail=f"{path} is back")


def restore_file(host, undo, restored: set) -> str | None:
    """One file back to its original; None when done or already so, else the conflict (one line).
    `restored` collects the paths that came back (reload_restored reads them)."""
    exists = host.exists(undo.path)
    current = sha256(host.read_bytes(undo.path)) if exists else None
    if current == undo.sha256_before:
        host.say(f"{undo.path}: as before the night: unchanged")
        return None
    if current != undo.sha256_last:
        return f"{host.alias}:{undo.path} changed since the night left it (sha256 {str(current)[:12]}); compare it with {undo.backup}, decide, restore by hand"
    restored.add(undo.path)
    if undo.created:
        host.change(["rm", "-f", "--", undo.path], what=f"rm {undo.path} (the night created it)")
        return None
    if not undo.backup or not host.exists(undo.backup) or sha256(host.read_bytes(undo.backup)) != undo.sha256_before:
        return f"{host.alias}:{undo.path}: its backup {undo.backup} is missing or not the original; restore it by hand"
    original = host.read_text(undo.backup)
    host.edit(undo.path, lambda _t: original, secret=True if "/etc/shadow" in undo.path or "gshadow" in undo.path else None)
    return None


def restore_files(step, plan) -> tuple[list[str], dict[str, set]]:
    """Every file back, host by host (all or nothing per host across a crash); (the conflicts, {alias: paths restored})."""
    conflicts, restored = [], {}
    for alias in dict.fromkeys(f.host for f in plan.files):
        host = step.on(alias)
        undos = [f for f in plan.files if f.host == alias]
        came_back = restored.setdefault(alias, set())
        with Transaction(step, host, [f.path for f in undos]):
            conflicts += [c for c in (restore_file(host, f, came_back) for f in reversed(undos)) if c]
    return conflicts, restored


def reload_restored(step, restored: dict[str, set]) -> None:
    """BIND and qmail read the files that came back in this run (zones, control files); nothing if none did."""
    from .zones import reload_bind

    cfg = step.settings
    for alias, paths in restored.items():
        if not paths:
            continue
        host = step.on(alias)
        if paths & set(cfg.identity.zone_files) or any(p.startswith(cfg.ttl.zone_dir) for p in paths):
            reload_bind(step, host)
        if any(p.startswith(cfg.qmail.control_dir) for p in paths):
            from ..services import reload, unit

            if unit(host, cfg.qmail.service).running:
                reload(host, cfg.qmail.service)


def restore_services(step, plan) -> None:
    for undo in reversed(plan.services):
        host = step.on(undo.host)
        if undo.enabled is not None:
            ensure_enabled(host, undo.service, undo.enabled)
        if undo.running is not None:
            ensure_running(host, undo.service, undo.running)
    if not step.dry:
        for record in still_open(list(step.session.journal.records())):
            if record["exposure"] == SERVICES:
                close_exposure(step, step.on(record["host"]), SERVICES, detail="services back as before the night")


def carry_mail_back(step) -> int:
    """Messages new's mailboxes got that old's lack (users of both, homes under the copy), appended on old."""
    s = step.settings
    old, new = step.on("old"), step.on("new")
    from ..edit.accounts import parse_passwd

    users = {e.name: e for e in parse_passwd(old.read_text("/etc/passwd")) if s.accounts.uid_min <= e.uid <= s.accounts.uid_max}
    carried = 0
    for entry in parse_passwd(new.read_text("/etc/passwd")):
        if entry.name not in users or not entry.home.startswith(s.rsync.dest.rstrip("/") + "/"):
            continue
        there = posixpath.join(entry.home, s.qmail.mailbox)
        here = posixpath.join(users[entry.name].home, s.qmail.mailbox)
        if not new.exists(there):
            continue
        missing = mbox.missing_from(new.read_text(there), old.read_text(here) if old.exists(here) else "")
        if missing:
            _append_mail(old, here, missing, f"{entry.name}:{entry.name}")
            carried += len(missing)
    old.say(f"mail carried back from new: {carried} message(s)")
    return carried


def _append_mail(old, path: str, messages: list[str], owner: str) -> None:
    if old.exists(path):
        old.edit(path, lambda text: mbox.append(text, messages), secret=True)
        return
    st_mode = 0o600
    old.put_bytes(path, mbox.append("", messages).encode("utf-8", "surrogateescape"), mode=stat_mod.S_IMODE(st_mode), owner=owner)


def accepted_domains(step) -> list[str]:
    """The domains old's SMTP took mail for before the night: its rcpthosts as restored (not new's list)."""
    old = step.on("old")
    path = posixpath.join(step.settings.qmail.control_dir, "rcpthosts")
    lines = old.read_text(path).split() if old.exists(path) else []
    return [d for d in lines if d != "localhost"]


def final_checks(step) -> list[ck.Check]:
    """Old serves as before the night (http, pop, smtp, dns from both servers), new answers where it was."""
    s, c = step.settings, step.settings.checks
    old, new = s.by_role("old"), s.by_role("new")
    results = [ck.http_check(url, old.address, "", c.timeout, host=old.alias, name="backout http") for url in c.http_urls]
    if c.pop_user:
        results.append(ck.pop_check(old.address, c.pop_user, c.pop_password, c.pop_method, c.timeout, host=old.alias, name="backout pop"))
    local = c.pop_user or "postmaster"
    results += [ck.smtp_accepts(old.address, f"{local}@{d}", "", c.timeout, host=old.alias, name="backout smtp")
                for d in accepted_domains(step)]
    names = {spec.before.fqdn: spec.before.ip for spec in (old, new) if spec.before.fqdn and spec.before.ip}
    results += [ck.dns_check(spec.address, name, ip, c.timeout, host=spec.alias, label="backout dns") for spec in (old, new) for name, ip in names.items()]
    try:
        host = step.on(new.alias)
        seen = host.probe(["hostname"]).stdout.strip()
        results.append(ck.Check("backout new reachable", new.alias, f"{new.before.hostname} at {new.address}", f"{seen} at {host.address}",
                                seen.split(".")[0] == new.before.hostname))
    except RemoteError as exc:
        results.append(ck.Check("backout new reachable", new.alias, f"{new.before.hostname} at {new.address}", str(exc)[:80], False))
    return results
