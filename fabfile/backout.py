"""`fab backout`: from any point after S2, put the site back as it was before the night.

The plan first (fabfile/backout_plan.py, from the journal): what will be
undone on which host, in which order. Without --yes it is only shown (a
dry run, reading the hosts for real); with --yes it is carried out
(fabfile/ops/backout.py) and ends with checks from outside. Backing out
twice, or backing out a step that never ran, changes nothing.
"""

from __future__ import annotations

from fabric import task
from invoke.exceptions import Exit

from . import backout_plan
from . import checks as ck
from . import session as session_mod
from .errors import RemoteError
from .ops import backout as ops
from .ops import network
from .steps import StepContext, StepInfo

INFO = StepInfo(("backout",), ("back out the night",), None, ("old", "new"), "backout", "", "fabfile.backout")


def _context(session):
    return StepContext(session, INFO, None, None)


def carry_out(s, plan) -> list[str]:
    """The plan in its order; the files someone changed since (not overwritten) are returned."""
    ops.rename_keys_back(s, plan)
    conflicts, restored = ops.restore_files(s, plan)
    network.move_back(s, [a for a, moved in plan.swapped.items() if moved])
    ops.reload_restored(s, restored)
    ops.restore_services(s, plan)
    ops.carry_mail_back(s)
    return conflicts


def _checks(s, conflicts) -> None:
    """The checks from outside, journalled; one line and exit 1 on any failure or file left to the operator."""
    session = s.session
    results = ops.final_checks(s)
    for r in results:
        session.journal.write("check", host=r.host or None, task="backout", step="backout", check=r.name, ok=r.ok,
                              expected=r.expected, seen=r.seen, detail=r.reason or None)
    print(ck.table(results), file=session.out, flush=True)
    failed = [r for r in results if not r.ok]
    session.journal.write("done" if not (failed or conflicts) else "failed", task="backout", step="backout",
                          detail="; ".join(conflicts)[:500] or None)
    for line in conflicts:
        print(f"NOT RESTORED (changed since): {line}", file=session.out, flush=True)
    if failed or conflicts:
        raise Exit(f"backout: {len(failed)} check(s) failed, {len(conflicts)} file(s) left for you to decide", code=1)
    print("backout complete: old serves the site as before the night", file=session.out, flush=True)


def _planned(session, remove_accounts: bool):
    aliases = [spec.alias for spec in session.settings.hosts.values() if spec.role in ("old", "new")]
    plan = backout_plan.plan(session.journal.records(), aliases, remove_accounts=remove_accounts)
    for line in backout_plan.describe(plan, session.settings):
        print(line, file=session.out, flush=True)
    if any(state is None for state in plan.swapped.values()):
        raise Exit("backout: a host is UNKNOWN; run `fab locate` first", code=1)
    return plan


@task(help={"yes": "carry the plan out (without it: show the plan, change nothing)",
            "remove_accounts": "also put new's account files back (the accounts C3 merged go)"})
def backout(c, yes=False, remove_accounts=False):
    """Backout (old, new): put the site back as before the night (plan from the journal; --yes carries it out); checks from outside."""
    session = session_mod.current(getattr(c, "config", None))
    plan = _planned(session, remove_accounts)
    if plan.start is None:
        return plan
    if not yes or session.dry:
        print("dry run: nothing changed; `fab backout --yes` carries the plan out", file=session.out, flush=True)
        return plan
    s = _context(session)
    session.journal.write("start", task="backout", step="backout")
    try:
        conflicts = carry_out(s, plan)
    except RemoteError as exc:
        session.journal.write("failed", task="backout", step="backout", detail=str(exc).splitlines()[0])
        raise Exit(f"backout failed: {str(exc).splitlines()[0]}; run `fab backout --yes` again once fixed (it resumes)") from None
    _checks(s, conflicts)
    return plan
