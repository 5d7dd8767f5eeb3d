"""Root login on new (P1/C1 open, P4/C5 restore), proven by what sshd itself says.

sshd takes the first value it reads for PermitRootLogin, across its
`Include`d drop-ins and the `Match` blocks that hold for a connection. So
opening root login for old is: read the configuration as sshd does (the
main file and what its Includes name: fabfile/edit/sshd.py), let the pure
planner edit the file and line where the effective value for old's
connection lives (a drop-in, the main file before the Include, a Match
block), or refuse naming the file and the construct; each file is checked
with `sshd -t -f`, the set is written all or nothing (a Transaction), the
whole configuration checked with `sshd -t`, sshd restarted; then sshd must
say so: `sshd -T -C user=root,host=...,addr=<old's address>,laddr,lport`
shows the opened value, and a fresh login proves the operator still gets
in, else the previous files go back and the step fails.

What was opened is journalled as an open exposure (files, backups, their
sha256 after, the effective value before); closing restores exactly those
files from their backups — if P1/C1 changed nothing, P4/C5 change nothing —
and is proven by sshd -T showing the value of before. The exposure record
is closed for good by an explicit `state: closed` (never by a missing field).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..edit import sshd as sshd_edit
from ..errors import RemoteError
from ..exposures import ROOT_LOGIN, close_exposure, latest, open_exposure
from ..hostfiles import TEMP, sha256
from ..services import restart
from ..transaction import Transaction

SSHD = "/usr/sbin/sshd"
VALIDATE = [SSHD, "-t", "-f", TEMP]
KEYWORD = "PermitRootLogin"


def read_config(host, main: str) -> sshd_edit.SshdConfig:
    """The configuration as sshd finds it on the host: the main file and everything its Includes name."""
    return sshd_edit.load(main, host.read_text, host.files.glob)


def old_connection(settings, config=None, new=None) -> sshd_edit.Connection:
    """The connection sshd must let in: old's root from old's address (before the swap), to new's address and port."""
    old, spec = settings.by_role("old"), settings.by_role("new")
    name, addr = old.before.fqdn or old.before.hostname, old.before.ip or old.address
    laddr = spec.before.ip or None
    if config is None:
        return sshd_edit.Connection("root", addr, addr, laddr, spec.port, user_invalid=False)
    return sshd_edit.peer(config, "root", name, addr, laddr=laddr, lport=spec.port)


def effective(host, conn, keyword: str = KEYWORD) -> str:
    """What sshd would apply to `conn` (sshd -T -C), read from the running system's configuration files."""
    spec = conn.spec() if isinstance(conn, sshd_edit.Connection) else ",".join(f"{k}={v}" for k, v in conn.items())
    result = host.probe([SSHD, "-T", "-C", spec])
    if not result.ok:
        raise RemoteError(f"{host.alias}: `sshd -T -C {spec}` failed ({(result.stderr or '').strip()[:120]}); check sshd_config with sshd -t")
    return sshd_edit.canonical(keyword, sshd_edit.parse_sshd_t(result.stdout).get(keyword.lower(), "")) or ""


def old_logs_in(step) -> bool:
    """From old, as root, with old's own key: does new's running sshd let it in now? (the effect, seen from old)"""
    old = step.on("old")
    new = step.settings.by_role("new")
    target = new.before.fqdn or new.address
    result = old.probe(["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=yes",
                        "-o", "ControlPath=none", f"root@{target}", "true"], timeout=30)
    return result.ok


def _editable(path: str) -> bool:
    return path.startswith("/etc/ssh/")


def open_root_login(step, host) -> None:
    from ..transaction import recover

    if recover(step, host):
        return
    cfg = step.settings.root_login
    config = read_config(host, cfg.sshd_config)
    conn = old_connection(step.settings, config, host)
    before = effective(host, conn)
    wanted = sshd_edit.canonical(KEYWORD, cfg.permit_root_login)
    if before == wanted:
        host.say(f"sshd -T for {conn.label()}: {KEYWORD} {before}: unchanged")
        host.record("unchanged", detail=f"{KEYWORD} {before} for old")
        return
    host.say(f"sshd -T for {conn.label()}: {KEYWORD} {before}; {sshd_edit.explain(config, KEYWORD, conn)}")
    plan = sshd_edit.plan_effective(config, KEYWORD, cfg.permit_root_login, conn, cfg.comment_out, editable=_editable)
    results = _write(step, host, plan)
    if host.dry:
        return
    changed = [r for r in results if r.changed]
    open_exposure(step, host, ROOT_LOGIN, effective_before=before, conn=conn.spec(),
                  files=[{"path": r.path, "backup": r.backup, "sha256_after": r.sha256_after} for r in changed])
    restart_and_prove(step, host, changed, lambda: effective(host, conn) == wanted and old_logs_in(step),
                      f"{KEYWORD} {wanted} for {conn.label()}, and old's root logs in")


def _write(step, host, plan: dict[str, str]) -> list:
    """The planned files through the edit contract, all or nothing; then the whole configuration passes `sshd -t`."""
    with Transaction(step, host, list(plan)) as tx:
        results = []
        try:
            for path, text in plan.items():
                results.append(host.edit(path, lambda _t, text=text: text, validate=VALIDATE))
            if not host.dry:
                check = host.probe([SSHD, "-t"])
                if not check.ok:
                    raise RemoteError(f"{host.alias}: the configuration with these files fails `sshd -t` ({(check.stderr or '').strip()[:120]})")
        except BaseException:
            tx.undo()
            raise
    return results


def close_root_login(step, host) -> None:
    """Put back exactly the files the opening changed, from their backups; prove sshd says the value of before."""
    opened = latest(step.session.journal.records(), ROOT_LOGIN, host.alias)
    if opened is None or opened.get("state") != "open":
        host.say("root login: not opened by serverswap (or closed already): unchanged")
        host.record("unchanged", detail="root login not open")
        return
    conn = opened.get("conn") or old_connection(step.settings).spec()
    results = [_restore(host, item) for item in opened.get("files", [])]
    if host.dry:
        return
    changed = [r for r in results if r is not None]
    probe_conn = dict(part.split("=", 1) for part in conn.split(","))
    if changed:
        refused = opened["effective_before"] == "no"
        restart_and_prove(step, host, changed,
                          lambda: effective(host, probe_conn) == opened["effective_before"] and (not refused or not old_logs_in(step)),
                          f"{KEYWORD} {opened['effective_before']} again" + (", and old's root is refused" if refused else ""))
    close_exposure(step, host, ROOT_LOGIN, detail=f"{KEYWORD} {effective(host, probe_conn)} for {probe_conn.get('addr')} (as before)")


def _restore(host, item: dict):
    """One file back from its backup through the edit contract (diff, backup of the current, sshd -t); None if already so."""
    path, backup = item["path"], item.get("backup")
    if not backup or not host.exists(backup):
        raise RemoteError(f"{host.alias}: the backup {backup} of {path} is gone; restore {path} by hand (sshd -T must say what it said before)")
    original = host.read_text(backup)
    current = host.read_bytes(path)
    if sha256(current) != item.get("sha256_after") and current.decode("utf-8", "surrogateescape") != original:
        raise RemoteError(f"{host.alias}: {path} changed since serverswap opened root login (not the file it wrote); "
                          f"compare it with {backup} and restore by hand, then run the step again")
    result = host.edit(path, lambda _t: original, validate=VALIDATE)
    return result if result.changed else None


def restart_and_prove(step, host, changed, proven, what: str) -> None:
    """Restart sshd; the effect must show in sshd -T and a fresh login must work, else the files go back.

    The operator's fresh login and `proven` (sshd -T, old's root from old) are separate logins to the
    restarted sshd: they run side by side, and both must pass."""
    restart(host, step.settings.root_login.restart)
    with ThreadPoolExecutor(1, thread_name_prefix="fresh-login") as pool:
        fresh = pool.submit(step.session.fresh_login, host.spec, host.address)
        shown = proven()
        logged_in = fresh.result()
    if shown and logged_in:
        host.say(f"sshd restarted; sshd -T shows {what}; a fresh login works")
        return
    host.say(f"sshd -T does not show {what}, or a fresh login FAILED: putting the previous files back")
    for result in changed:
        if result.backup:
            host.files.restore(result.path, result.backup)
    restart(host, step.settings.root_login.restart)
    raise RemoteError(f"{host.alias}: after the restart sshd did not show {what} (or refused a fresh login); "
                      f"the previous files are back; read `sshd -T` and the files, then run the step again")
