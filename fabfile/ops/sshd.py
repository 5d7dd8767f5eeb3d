"""Root login on new (P1/C1 open, P4/C5 restore), proven by what sshd itself says.

sshd takes the first value it reads for PermitRootLogin, across its
`Include`d drop-ins and the `Match` blocks that apply to a connection. So
opening root login for old is: read the configuration as sshd does
(main file and includes), edit the file and line where the effective value
for old's connection lives (fabfile/edit/sshd.py plans it), validate with
`sshd -t`, restart, and then ask sshd: `sshd -T -C user=root,host=<old's
name>,addr=<old's address>` must show the opened value, else the previous
files go back and the step fails. A fresh login proves the operator is
not locked out.

What was opened is journalled as an open exposure (files, backups, their
sha256 after, the effective value before); closing restores exactly those
files from their backups — if P1/C1 changed nothing, P4/C5 change nothing —
and is proven by sshd -T showing the value of before. The exposure record
is closed for good by an explicit `state: closed` (never by a missing field).
"""

from __future__ import annotations

from ..edit import sshd as sshd_edit
from ..errors import RemoteError
from ..exposures import ROOT_LOGIN, close_exposure, open_exposure
from ..hostfiles import TEMP
from ..services import restart

SSHD = "/usr/sbin/sshd"
VALIDATE = [SSHD, "-t", "-f", TEMP]


def old_connection(settings) -> dict[str, str]:
    """The connection sshd must let in: old's root, from old's name and address (before the swap)."""
    old = settings.by_role("old")
    return {"user": "root", "host": old.before.fqdn or old.before.hostname, "addr": old.before.ip or old.address}


def effective(host, conn: dict[str, str], keyword: str = "permitrootlogin") -> str:
    """What sshd would apply to `conn` (sshd -T -C), read from the running system's configuration files."""
    spec = ",".join(f"{k}={v}" for k, v in conn.items())
    result = host.probe([SSHD, "-T", "-C", spec])
    if not result.ok:
        raise RemoteError(f"{host.alias}: `sshd -T -C {spec}` failed ({(result.stderr or '').strip()[:120]}); check sshd_config with sshd -t")
    for line in result.stdout.splitlines():
        word, _, value = line.partition(" ")
        if word.lower() == keyword:
            return sshd_edit.normal_value(keyword, value.strip())
    return ""


def read_tree(host, main: str) -> dict[str, str]:
    """The main sshd_config and every file its Includes name (as sshd would find them), as text."""
    files = {main: host.read_text(main)}
    for path in sshd_edit.included_paths(files, main, lambda directory: _listing(host, directory)):
        files.setdefault(path, host.read_text(path))
    return files


def _listing(host, directory: str) -> list[str]:
    return host.files.listdir(directory)


def open_root_login(step, host) -> None:
    cfg = step.settings.root_login
    conn = old_connection(step.settings)
    before = effective(host, conn)
    wanted = sshd_edit.normal_value("permitrootlogin", cfg.permit_root_login)
    if before == wanted:
        host.say(f"sshd -T for root from {conn['host']} ({conn['addr']}): PermitRootLogin {before}: unchanged")
        host.record("unchanged", detail=f"PermitRootLogin {before} for old")
        return
    files = read_tree(host, cfg.sshd_config)
    plan = sshd_edit.plan_permit(files, cfg.sshd_config, conn, cfg.permit_root_login, cfg.comment_out)
    results = [host.edit(path, lambda _t, text=text: text, validate=VALIDATE) for path, text in plan.items()]
    if host.dry:
        return
    changed = [r for r in results if r.changed]
    open_exposure(step, host, ROOT_LOGIN, effective_before=before, conn=conn,
                  files=[{"path": r.path, "backup": r.backup, "sha256_after": r.sha256_after} for r in changed])
    restart_and_prove(step, host, changed, lambda: effective(host, conn) == wanted, f"PermitRootLogin {wanted} for {conn['addr']}")


def close_root_login(step, host) -> None:
    """Put back exactly the files the opening changed, from their backups; prove sshd says the value of before."""
    from ..exposures import latest

    cfg = step.settings.root_login
    opened = latest(step.session.journal.records(), ROOT_LOGIN, host.alias)
    if opened is None or opened.get("state") != "open":
        host.say("root login: not opened by serverswap (or closed already): unchanged")
        host.record("unchanged", detail="root login not open")
        return
    conn = opened.get("conn") or old_connection(step.settings)
    results = [_restore(host, item) for item in opened.get("files", [])]
    if host.dry:
        return
    changed = [r for r in results if r is not None]
    if changed:
        restart_and_prove(step, host, changed, lambda: effective(host, conn) == opened["effective_before"],
                          f"PermitRootLogin {opened['effective_before']} again")
    close_exposure(step, host, ROOT_LOGIN, detail=f"PermitRootLogin {effective(host, conn)} for {conn['addr']} ({cfg.sshd_config} as before)")


def _restore(host, item: dict):
    """One file back from its backup, through the edit contract (diff, backup of the current, sshd -t)."""
    path, backup = item["path"], item.get("backup")
    if not backup or not host.exists(backup):
        raise RemoteError(f"{host.alias}: the backup {backup} of {path} is gone; restore {path} by hand (sshd -T must say what it said before)")
    original = host.read_text(backup)
    current = host.read_bytes(path)
    from ..hostfiles import sha256

    if sha256(current) != item.get("sha256_after") and current.decode("utf-8", "surrogateescape") != original:
        raise RemoteError(f"{host.alias}: {path} changed since serverswap opened root login (not the file it wrote); "
                          f"compare it with {backup} and restore by hand, then run the step again")
    result = host.edit(path, lambda _t: original, validate=VALIDATE)
    return result if result.changed else None


def restart_and_prove(step, host, changed, proven, what: str) -> None:
    """Restart sshd; the effect must show in sshd -T and a fresh login must work, else the files go back."""
    restart(host, step.settings.root_login.restart)
    if proven() and fresh_login_works(step, host):
        host.say(f"sshd restarted; sshd -T shows {what}; a fresh login works")
        return
    host.say(f"sshd -T does not show {what}, or a fresh login FAILED: putting the previous files back")
    for result in changed:
        if result.backup:
            host.files.restore(result.path, result.backup)
    restart(host, step.settings.root_login.restart)
    raise RemoteError(f"{host.alias}: after the restart sshd did not show {what} (or refused a fresh login); "
                      f"the previous files are back; read `sshd -T` and the files, then run the step again")


def fresh_login_works(step, host) -> bool:
    return step.session.fresh_login(host.spec, host.address)
