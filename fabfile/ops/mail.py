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
from ..services import restart, unit


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
    restart(host, service)
    if not host.dry:
        host.say(f"{u.label()}: restarted")
    return "restarted"


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
