"""Root login on new (P1/C1 open, P4/C5 restore) and the sshd restart that proves itself.

Opening returns a handle, the backup taken at that moment, and the journal
keeps it, so the closing step restores the file exactly as it was, also
from another `fab` run. A restart is only accepted once a brand-new login
works; otherwise the previous file goes back and sshd restarts again.
"""

from __future__ import annotations

from ..edit import sshd as sshd_edit
from ..remote import Host, RemoteError
from ..services import services_of

VALIDATE = "/usr/sbin/sshd -t -f {}"
OPEN_MARK = "root_login_opened"


def open_root_login(step, host: Host) -> str | None:
    cfg = step.settings["root_login"]

    def transform(text: str) -> str:
        text = sshd_edit.set_option(text, "PermitRootLogin", cfg["permit_root_login"])
        for line in cfg["comment_out"]:
            text = sshd_edit.comment_out(text, line)
        return text

    result = host.edit(cfg["sshd_config"], transform, validate=VALIDATE)
    if result.changed and not result.dry:
        step.note("root login opened", **{OPEN_MARK: result.backup})
        restart_and_prove(step, host, rollback_to=result.backup)
    return result.backup


def opened_backup(step) -> str | None:
    """The backup of the last opening not yet closed (from the journal)."""
    backup = None
    for record in step.session.journal.records():
        if OPEN_MARK in record:
            backup = record[OPEN_MARK]
    return backup


def close_root_login(step, host: Host, backup: str | None = None) -> None:
    cfg = step.settings["root_login"]
    backup = backup or opened_backup(step)
    if backup and host.exists(backup):
        original = host.read_text(backup)
        transform = lambda _text: original  # noqa: E731  (restore the file as it was)
    else:
        host.say("no open-root-login backup recorded; setting PermitRootLogin no")
        transform = lambda text: sshd_edit.set_option(text, "PermitRootLogin", "no")  # noqa: E731
    result = host.edit(cfg["sshd_config"], transform, validate=VALIDATE)
    if not result.dry:
        step.note("root login closed", **{OPEN_MARK: None})
    if result.changed and not result.dry:
        restart_and_prove(step, host, rollback_to=result.backup)


def restart_and_prove(step, host: Host, rollback_to: str | None) -> None:
    cfg = step.settings["root_login"]
    services_of(host).restart(cfg["restart"])
    if fresh_login_works(step, host):
        host.say("sshd restarted; a fresh login works")
        return
    host.say("a fresh login FAILED after the restart: putting the previous sshd_config back")
    if rollback_to:
        host.c.run(f"cp -a -- {rollback_to} {cfg['sshd_config']}", hide=True, in_stream=False, dry=False)
        services_of(host).restart(cfg["restart"])
    raise RemoteError(f"{host.alias}: sshd did not accept a fresh login after the restart; previous sshd_config restored")


def fresh_login_works(step, host: Host) -> bool:
    """A new SSH connection (not the reused one) runs a command."""
    import time

    spec = host.spec
    for _ in range(10):
        try:
            cxn = step.session.connect(spec, host.c.host, timeout=5)
        except RemoteError:
            time.sleep(0.3)
            continue
        try:
            return cxn.run("true", hide=True, warn=True, in_stream=False, dry=False).ok
        finally:
            cxn.close()
    return False
