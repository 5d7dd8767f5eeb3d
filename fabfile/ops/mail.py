"""qmail control files (D4 on old, N1 on new) and the list bouncer (N2), via fabfile.edit.listfile.

These files must hold exactly the configured lines: a right file is left
alone ("unchanged"), anything else is rewritten through Host.edit (diff,
backup, atomic rename). A missing file is created owned like its directory.
"""

from __future__ import annotations

import posixpath

from ..edit import listfile
from ..remote import EditResult
from ..commands import Script
from ..errors import RemoteError
from ..services import reload, unit


def ensure_exact(host, path: str, lines) -> EditResult:
    if host.exists(path):
        return host.edit(path, listfile.exact(list(lines)))
    owner = host.owner_of(posixpath.dirname(path))
    return host.put_bytes(path, listfile.render_lines(list(lines)).encode(), mode=0o644, owner=owner)


def set_control(step, host, lines) -> bool:
    """Every qmail.files under qmail.control_dir holds exactly `lines`; True if any changed."""
    cfg = step.settings.qmail
    results = [ensure_exact(host, posixpath.join(cfg.control_dir, name), lines) for name in cfg.files]
    return any(r.changed for r in results)


def qmail_running_after(step, host, changed: bool) -> str:
    """Started if stopped; restarted if running and its control files changed; else unchanged (read back)."""
    from ..services import ensure_running

    service = step.settings.qmail.service
    u = unit(host, service)
    if not u.running:
        ensure_running(host, service)
        return "started"
    if not changed:
        host.say(f"{u.label()}: running, control files unchanged: unchanged")
        return "unchanged"
    reload(host, service)   # qmail-send rereads locals on HUP; no restart, no mail in hand dropped
    if not host.dry:
        host.say(f"{u.label()}: told to reread its control files (HUP)")
    return "reloaded"


WITH_PATH = 'PATH="$PATH:$1"; shift; exec "$@" 2>&1'


def showctl(step, host) -> str:
    """qmail-showctl's output; its bin/ (beside control/) is added to PATH for the lookup."""
    cfg = step.settings.qmail
    bindir = posixpath.join(posixpath.dirname(cfg.control_dir.rstrip("/")), "bin")
    result = host.probe(Script(WITH_PATH, bindir, *cfg.showctl))
    if not result.ok:
        first = (result.stdout.strip().splitlines() or [f"exit {result.exited}"])[0]
        host.say(f"{' '.join(cfg.showctl)} failed: {first} (check qmail.showctl in hosts.toml)")
    return result.stdout


def queue(step, host):
    """old's qmail queue now (qmail-qread, from qmail's bin/ beside control/)."""
    from ..edit.qmailqueue import parse_qread

    cfg = step.settings.qmail
    bindir = posixpath.join(posixpath.dirname(cfg.control_dir.rstrip("/")), "bin")
    result = host.probe(Script(WITH_PATH, bindir, "qmail-qread"))
    if not result.ok:
        raise RemoteError(f"{host.alias}: qmail-qread failed ({(result.stdout or result.stderr).strip()[:100]}); is qmail installed under {bindir}?")
    return parse_qread(result.stdout)


def drain(step, old) -> None:
    """Mail in flight (before C4 copies /home): local deliveries waiting in old's queue reach the mailboxes C4 carries.

    qmail runs until no local recipient is left (checks.mail_wait at most), then is stopped again as S4 left it;
    an empty queue is proven by qmail-qread. Remote recipients stay: old sends its own mail once D4 starts qmail.
    """
    import time

    q = queue(step, old)
    if not q.local:
        old.say(f"mail queue on {old.alias}: {q.messages} message(s), no local delivery waiting: nothing in flight for C4")
        step.note("mail in flight: none", mail_in_flight={"local": 0, "remote": len(q.remote)})
        return
    old.say(f"mail queue on {old.alias}: {len(q.local)} local delivery(ies) waiting: starting qmail to deliver them before the copy")
    if old.dry:
        return
    from ..services import ensure_running

    started = ensure_running(old, step.settings.qmail.service)
    deadline = time.monotonic() + step.settings.checks.mail_wait
    while q.local and time.monotonic() < deadline:
        time.sleep(0.5)
        q = queue(step, old)
    if started:
        ensure_running(old, step.settings.qmail.service, running=False)
    if q.local:
        raise RemoteError(f"{old.alias}: {len(q.local)} local delivery(ies) still queued after {step.settings.checks.mail_wait} s "
                          f"(qmail-qread shows them); look at qmail's log, then run C4 again")
    step.note("mail in flight: delivered on old before the copy", mail_in_flight={"local_delivered": True, "remote": len(q.remote)})
    old.say(f"mail queue on {old.alias}: local deliveries done; {len(q.remote)} remote recipient(s) stay for old to send")
