"""`fab preflight`: the check-up before the night (read-only; see fabfile/ops/preflight.py for the checks).

One table (check, host, expected, found, verdict), exit status 1 on any
FAIL, each FAIL naming its fix. Nothing is changed on any host, also
without --dry: every check only reads.
"""

from __future__ import annotations

from fabric import task
from invoke.exceptions import Exit

from . import checks as ck
from . import session as session_mod
from .errors import RemoteError
from .ops import preflight as checks_mod


class Context:
    """What the checks get: the session, the settings, and each host once (None when it cannot be reached)."""

    def __init__(self, session):
        self.session, self.settings = session, session.settings
        self._hosts: dict[str, object] = {}
        self.info = type("Info", (), {"task_name": "preflight", "ids": ("preflight",)})()

    def host(self, alias: str):
        if alias not in self._hosts:
            try:
                host = self.session.host(alias)
                host.task, host.step = "preflight", "preflight"
                self.session.guard(host, None, "preflight")
                self._hosts[alias] = host
            except RemoteError:
                self._hosts[alias] = None
                raise
        if self._hosts[alias] is None:
            raise RemoteError(f"{alias}: not reached (see the reach row)")
        return self._hosts[alias]

    def host_or_none(self, alias: str):
        try:
            return self.host(alias)
        except RemoteError:
            return None


def run_checks(session) -> list[ck.Check]:
    ctx = Context(session)
    rows = [r for alias in session.settings.hosts for r in checks_mod.reach(ctx, alias)]
    for check in checks_mod.CHECKS:
        try:
            rows += check(ctx)
        except RemoteError as exc:
            rows.append(checks_mod.row(check.__name__.replace("_", " "), "-", "the check runs", str(exc).splitlines()[0][:90], False,
                                       "see the message; the host may have dropped"))
    return rows


@task
def preflight(c):
    """Preflight (old, new, backup): read-only check-up before the night; one table, exit 1 on any FAIL (each names its fix)."""
    session = session_mod.current(getattr(c, "config", None))
    rows = run_checks(session)
    for r in rows:
        session.journal.write("check", host=r.host if r.host != "-" else None, task="preflight", step="preflight", check=r.name,
                              ok=r.ok, expected=r.expected, seen=r.seen, detail=r.reason or None)
    print(ck.table(rows), file=session.out, flush=True)
    failed = [r for r in rows if not r.ok]
    if failed:
        for r in failed:
            print(f"FAIL {r.name} on {r.host}: {r.reason}", file=session.out, flush=True)
        raise Exit(f"preflight: {len(failed)} of {len(rows)} check(s) FAILED", code=1)
    return rows
