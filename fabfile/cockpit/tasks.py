"""The operator's cockpit tasks: `fab plan`, `fab status`, `fab report`, `fab rehearse`.

They read the journal and the step registry (fabfile/steps.py); only
`plan --diff` and `rehearse` touch hosts, through the steps themselves.
"""

from __future__ import annotations

import inspect
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from fabric import task
from invoke.exceptions import Exit

from .. import PHASES, load_phases
from .. import session as session_mod
from ..output import redact
from ..steps import runbook
from .render import render_html, render_markdown
from .report import build_report
from .status import CHECK_STEPS, format_plan, plan_rows, status_lines


def _session(c):
    return session_mod.current(getattr(c, "config", None))


def open_lines(session) -> list[str]:
    """What is open on the hosts (exposures, unknown hosts) and the TTL wait's countdown."""
    from .. import ttlwait
    from ..exposures import open_exposure_lines

    records = list(session.journal.records())
    countdown = ttlwait.countdown_line(records)
    return open_exposure_lines(records, session.settings) + ([countdown] if countdown else [])


def write_report(settings, records, out_dir: str | None = None, *, exposures=(), users_view=None) -> Path:
    out = Path(out_dir or settings.operator.report_dir)
    if not out.is_absolute():
        out = settings.path.parent / out
    out.mkdir(parents=True, exist_ok=True)
    model = build_report(records, old_alias=settings.by_role("old").alias, new_alias=settings.by_role("new").alias,
                         manual_items=settings.checks.manual, hosts_file=settings.path, exposures=exposures, users_view=users_view)
    (out / "report.md").write_text(redact(render_markdown(model)), encoding="utf-8")
    path = out / "report.html"
    path.write_text(redact(render_html(model)), encoding="utf-8")
    return path


@contextmanager
def dry_run(session):
    """Everything inside runs as `fab --dry` (plan --diff), then the session is as it was."""
    was = session.dry
    session.dry = True
    for host in session.hosts.values():
        host.dry = True
    try:
        yield
    finally:
        session.dry = was
        for host in session.hosts.values():
            host.dry = was


@task
def plan(c, diff=False):
    """Plan (operator): the whole runbook in order with each step's state; --diff: what pending steps would change now."""
    session = _session(c)
    rows = plan_rows(list(session.journal.records()), runbook(), session.settings.checks.manual)
    print(format_plan(rows), file=session.out, flush=True)
    for line in open_lines(session):
        print(line, file=session.out, flush=True)
    if not diff:
        return rows
    print("\n-- what the pending steps would change now (dry run, read-only) --", file=session.out, flush=True)
    seen = set()
    with dry_run(session):
        for r in rows:
            info = r.get("info")
            if info is None or info.body is None or (r["record"] and r["record"]["event"] == "done") or info.task_name in seen:
                continue
            seen.add(info.task_name)
            if r["id"] in CHECK_STEPS:
                print(f"\n== {r['id']} {info.task_name}: a check, changes nothing", file=session.out)
                continue
            try:
                info.body(c)
            except Exit as exc:
                print(f"   {info.task_name} would fail now: {getattr(exc, 'message', exc)}", file=session.out, flush=True)
    return rows


@task
def status(c):
    """Status (operator): where the swap stands: last done step, next step, failures, hosts, what is still open."""
    session = _session(c)
    lines = status_lines(list(session.journal.records()), runbook(), session.settings, extra=open_lines(session))
    print("\n".join(lines), file=session.out, flush=True)
    return lines


@task
def report(c):
    """Report (operator): one HTML page (+ Markdown) of the run from the journal; prints its path."""
    session = _session(c)
    path = write_report(session.settings, list(session.journal.records()), exposures=open_lines(session))
    print(f"report: {path}\n        {path.with_suffix('.md')}", file=session.out, flush=True)
    return path


def _phase_default(module):
    for value in vars(module).values():
        if getattr(value, "is_default", False) and hasattr(value, "body"):
            return value
    return None


def _run_phases(c, session, order, yes, reboot) -> tuple[list, tuple | None]:
    """The phases in order. D5 (old's reboot) runs after phase4's checks: new's checks need not wait for old
    to come back (the runbook lets a phase's items run in any order); D5 checks old itself, from outside."""
    done, failure = _phases(c, session, order, yes, False)
    if failure or not reboot or "phase3" not in order:
        return done, failure
    from ..lanes import run_sequence
    from ..phase3 import check_old_after_reboot

    try:
        run_sequence(c, [check_old_after_reboot], "phase3 (D5, old's reboot, after the checks)")
    except Exit as exc:
        return done, ("phase3", getattr(exc, "message", None) or str(exc))
    return done, None


def _phases(c, session, order, yes, reboot) -> tuple[list, tuple | None]:
    modules = load_phases()
    done = []
    for name in order:
        phase_task = _phase_default(modules[name]) if name in modules else None
        if phase_task is None:
            return done, (name, f"no default task for {name} (fabfile/{name}.py missing or without default)")
        print(f"\n==== {name}", file=session.out, flush=True)
        accepts = inspect.signature(phase_task.body).parameters
        kwargs = {k: v for k, v in (("yes", yes), ("reboot", reboot)) if k in accepts}
        try:
            phase_task(c, **kwargs)
        except Exit as exc:
            return done, (name, getattr(exc, "message", None) or str(exc))
        done.append(name)
    return done, None


def _watched(c, session, order, yes, reboot, watch):
    """The phases, with the users' view measured from outside beside them (fab watch); (done, failure, view)."""
    if not watch:
        done, failure = _run_phases(c, session, order, yes, reboot)
        return done, failure, None
    from ..watch import WatchConfig, watching

    with watching(session.settings, session.settings.operator.journal, WatchConfig.from_settings(session.settings)) as watcher:
        done, failure = _run_phases(c, session, order, yes, reboot)
    view = watcher.users_view()
    for line in _outage_lines(view):
        print(line, file=session.out, flush=True)
    return done, failure, view


def _outage_lines(view) -> list[str]:
    from .report import hms

    lines = ["", "the users' view (measured from outside):"]
    for s in view.get("services", []):
        lines.append(f"  {s['service']:<6} {len(s['outages'])} outage(s), total {hms(s['total'])} ({s['probes']} probes)")
    if view.get("ledger"):
        lines.append(view["ledger"])
    return lines


def _mail_problems(view) -> list[str]:
    if not view:
        return []
    from ..watch import problems

    return list(problems(view))


@task
def rehearse(c, yes=False, force=False, step=False, reboot=True, hosts_file=None, ttl_wait=True, watch=True):
    """Rehearse (old, new, backup): prep through phase4 in runbook order on the hosts file's hosts, then the report.

    --no-reboot leaves out D5 (the reboot of old); --no-ttl-wait does not keep the TTL wait before phase1
    (a lab has no caches; journalled); --no-watch runs without `fab watch` beside it (no outage table,
    no mail ledger); --hosts-file FILE instead of $SERVERSWAP_HOSTS.
    """
    if hosts_file:
        os.environ["SERVERSWAP_HOSTS"] = str(Path(hosts_file).resolve())
        session = session_mod.current(getattr(c, "config", None), reset=True)
    else:
        session = _session(c)
    session.assume_yes |= yes
    session.force, session.step_mode, session.skip_ttl_wait = force, step, not ttl_wait
    order = [p for p in PHASES if p != "after"]
    print(f"rehearsal on {session.settings.path}: {', '.join(order)}", file=session.out, flush=True)
    done, failure, view = _watched(c, session, order, yes, reboot, watch)
    path = write_report(session.settings, list(session.journal.records()), exposures=open_lines(session), users_view=view)
    print(f"\nreport: {path}", file=session.out, flush=True)
    mail_problems = _mail_problems(view)
    if mail_problems and not failure:
        failure = ("phase4", "; ".join(mail_problems))
    if failure:
        rest = order[order.index(failure[0]):]
        print(f"rehearsal stopped in {failure[0]}: {failure[1]}\n  phases done: {', '.join(done) or 'none'}\n  not done: {', '.join(rest)}", file=sys.stderr)
        raise Exit(f"rehearsal stopped in {failure[0]}", code=1)
    print(f"rehearsal complete: {', '.join(done)}", file=session.out, flush=True)
    return path


@task
def locate(c):
    """Locate (old, new): find each host by its host key at its after or before address and record where it is."""
    from types import SimpleNamespace

    from ..ops import network

    session = _session(c)
    context = SimpleNamespace(session=session, settings=session.settings, info=SimpleNamespace(task_name="locate", ids=("C10",)))
    aliases = [spec.alias for spec in session.settings.hosts.values() if spec.role in ("old", "new")]
    found = network.locate(context, aliases)
    for alias, where in found.items():
        print(f"{alias}: {where}", file=session.out, flush=True)
    missing = [a for a, where in found.items() if where.startswith("not found")]
    if missing:
        raise Exit(f"locate: {', '.join(missing)} not found by its host key; check its console, then run fab locate again", code=1)
    return found


TOP_LEVEL = [plan, status, report, rehearse, locate]
