"""qmail control files (D4 on old, N1 on new) and the list bouncer (N2), via fabfile.edit.listfile.

These files must hold exactly the configured lines: a right file is left
alone ("unchanged"), anything else is rewritten through Host.edit (diff,
backup, atomic rename). A missing file is created owned like its directory.
"""

from __future__ import annotations

import posixpath
import shlex

from ..edit import listfile
from ..remote import EditResult, Host, q
from ..services import services_of


def ensure_exact(host: Host, path: str, lines: list[str]) -> EditResult:
    if host.exists(path):
        return host.edit(path, listfile.exact(lines))
    directory = posixpath.dirname(path)
    owner = host.probe(f"stat -c %U:%G {q(directory)}", warn=False).stdout.strip() or "root:root"
    return host.put_bytes(path, listfile.render_lines(lines).encode(), mode=0o644, owner=owner)


def set_control(step, host: Host, lines: list[str]) -> bool:
    """Every qmail.files under qmail.control_dir holds exactly `lines`; True if any changed."""
    cfg = step.settings["qmail"]
    results = [ensure_exact(host, posixpath.join(cfg["control_dir"], name), lines) for name in cfg["files"]]
    return any(r.changed for r in results)


def qmail_running_after(step, host: Host, changed: bool) -> str:
    """Started if stopped; restarted if running and its control files changed; else unchanged."""
    service = step.settings["qmail"]["service"]
    svc = services_of(host)
    if not svc.is_running(service):
        svc.start(service)
        done = "started"
    elif changed:
        svc.restart(service)
        done = "restarted"
    else:
        host.say(f"{service}: running, control files unchanged: unchanged")
        return "unchanged"
    if not host.dry:
        host.say(f"{service}: {done}")
    return done


def showctl(step, host: Host) -> str:
    """qmail-showctl's output; its bin/ (beside control/) is added to PATH for the lookup."""
    cfg = step.settings["qmail"]
    bindir = posixpath.join(posixpath.dirname(cfg["control_dir"].rstrip("/")), "bin")
    result = host.probe(f"PATH=\"$PATH:{bindir}\" {shlex.join(shlex.split(cfg['showctl']))} 2>&1")
    if not result.ok:
        first = (result.stdout.strip().splitlines() or [f"exit {result.exited}"])[0]
        host.say(f"{cfg['showctl']} failed: {first} (check qmail.showctl in hosts.toml)")
    return result.stdout
