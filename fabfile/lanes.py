"""Lanes: steps in runbook order, one lane per host, lanes side by side; resume; one stop report.

`run_lanes(c, {"old": [...], "new": [...]}, "phase3")` runs each lane in
its own thread (the runbook lets old's and new's items run in any order),
each in its order. `run_sequence` is one lane, in the calling thread. The
semantics are the same either way:

* resume: a step the journal shows done whose change is still in place is
  skipped (see `_skip_if_done`), unless --force;
* at the first failure in any lane no lane starts another step (the step in
  progress ends), and one report says per lane what was done and not done;
* --step asks before each step; the lanes then run one after the other.
"""

from __future__ import annotations

import sys
import threading

from invoke.exceptions import Exit

from . import session as session_mod
from .errors import RemoteError
from .steps import Lane, _ask_step, _flags, _one_line, lane_label, pair_closed, step_states, still_in_place, PAIRS


def _inside_closed_pair(step_id: str, states: dict) -> bool:
    """Done between an opening and its closing that are both done (prep's P2/P3 after P4 closed root login)."""
    last = states.get(step_id)
    if not last or last.get("event") != "done":
        return False
    for opening, closing in PAIRS.items():
        first, end = states.get(opening), states.get(closing)
        if pair_closed(opening, states) and first["time"] < last.get("time", "") < end["time"]:
            return True
    return False


def skips(tasks, states, force) -> set[str]:
    """The task names a resume skips in one lane: done with their change in place, or done inside a closed
    P1/P4 or C1/C5 pair; the opening of a closed pair only when nothing after it in the lane still needs it."""
    if force:
        return set()
    ids = [t.serverswap_step.ids[0] for t in tasks]
    done = {sid for sid in ids if still_in_place(sid, states) or _inside_closed_pair(sid, states)}
    for index, sid in enumerate(ids):
        if sid in PAIRS and pair_closed(sid, states) and all(later in done for later in ids[index + 1:]):
            done.add(sid)
    return {t.serverswap_step.task_name for t, sid in zip(tasks, ids) if sid in done}


def _skip_if_done(session, info, states, skipping: set) -> bool:
    """Resume: say and journal "done before, skipped" for a step `skips` chose."""
    sid = info.ids[0]
    if info.task_name not in skipping:
        return False
    last = states.get(sid)
    when = str(last.get("time", ""))[:19].replace("T", " ")
    print(f"== {'+'.join(info.ids)} {info.task_name}: done at {when}, skipped (--force runs it again)", file=session.out, flush=True)
    session.journal.write("skipped", host=last.get("host"), task=info.task_name, step=sid,
                          detail=f"done at {when} (run {last.get('run')})", dry=session.dry or None)
    return True


def _ask(session, lane: Lane, info) -> str:
    """--step's answer for one step: "run", "skip", "continue" (stop asking) or "stop"."""
    answer = _ask_step(f"{'+'.join(info.ids)} {info.task_name}")
    if answer == "n":
        session.journal.write("skipped", task=info.task_name, step=info.ids[0], detail="operator answered no (--step)", dry=session.dry or None)
        print(f"== {info.task_name}: not run (answered no)", file=session.out, flush=True)
        return "skip"
    return {"y": "run", "c": "continue", "stop": "stop"}[answer]


def _work(c, session, lane: Lane, states, force, asking, stopping: threading.Event) -> None:
    skipping = skips(lane.tasks, states, force)
    for index, t in enumerate(lane.tasks):
        lane.at = index
        if stopping.is_set():
            return
        info = t.serverswap_step
        if _skip_if_done(session, info, states, skipping):
            lane.skipped.append(info.task_name)
            continue
        if asking[0]:
            answer = _ask(session, lane, info)
            if answer == "stop":
                lane.failed = "no answer to --step (not a terminal)"
                stopping.set()
                return
            if answer == "skip":
                continue
            asking[0] = answer == "run"
        try:
            t(c)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the host named
            lane.failed = _one_line(exc)
            stopping.set()
            if isinstance(exc, KeyboardInterrupt):
                raise
            return
        lane.done.append(info.task_name)
    lane.at = len(lane.tasks)


def _report(session, lanes: list[Lane], label: str, interrupted: bool) -> None:
    failed = [lane for lane in lanes if lane.failed is not None]
    settings = session.settings
    head = "; ".join(f"{lane_label(settings, lane.name)} at {lane.rest()[0]}: {lane.failed}" for lane in failed)
    print(f"\n{label}: stopped: {head or 'interrupted'}", file=sys.stderr)
    for lane in lanes:
        rest = lane.rest()
        why = "" if lane in failed or not rest else f" (not started: {'a failure in ' + ', '.join(lane_label(settings, f.name) for f in failed) if failed else 'interrupted'})"
        skipped = f" (skipped, done before: {', '.join(lane.skipped)})" if lane.skipped else ""
        print(f"  {lane_label(settings, lane.name)}: done: {', '.join(lane.done) or 'nothing'}{skipped}; "
              f"not done: {', '.join(rest) or 'nothing'}{why}", file=sys.stderr)


def run_lanes(c, lanes: dict[str, list], label: str, *, force: bool | None = None, step: bool | None = None) -> list[str]:
    """Run each lane's steps in order, the lanes side by side (see the module doc); the task names done."""
    session = session_mod.current(getattr(c, "config", None))
    force, asking = _flags(session, force, step)
    work = [Lane(name, list(tasks)) for name, tasks in lanes.items() if tasks]
    if asking and len(work) > 1:
        work = [Lane(" then ".join(lane.name for lane in work), [t for lane in work for t in lane.tasks])]
    states = step_states(session.journal.records())
    stopping, interrupted = threading.Event(), False
    ask = [asking]
    if len(work) == 1:
        try:
            _work(c, session, work[0], states, force, ask, stopping)
        except KeyboardInterrupt:
            interrupted = True
    else:
        interrupted = _in_threads(c, session, work, states, force, ask, stopping, label)
    failed = [lane for lane in work if lane.failed is not None]
    if not failed and not interrupted:
        return [name for lane in work for name in lane.done]
    _report(session, work, label, interrupted)
    if interrupted:
        raise KeyboardInterrupt
    first = failed[0]
    where = "" if first.name == label else f" on {lane_label(session.settings, first.name)}"
    raise Exit(f"{label} stopped at {first.rest()[0]}{where}", code=1)


def _in_threads(c, session, work: list[Lane], states, force, ask, stopping, label) -> bool:
    threads = [threading.Thread(target=_work, args=(c, session, lane, states, force, ask, stopping), name=f"serverswap-{lane.name}")
               for lane in work]
    for thread in threads:
        thread.start()
    interrupted = False
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:  # the lanes finish the step they are in, then stop
                stopping.set()
                interrupted = True
                print(f"\n{label}: interrupted; waiting for the steps in progress to end", file=sys.stderr, flush=True)
    return interrupted


def run_sequence(c, tasks, label: str, *, force: bool | None = None, step: bool | None = None) -> list[str]:
    """One lane: steps in runbook order, stop at the first failure, say what was and was not done."""
    return run_lanes(c, {label: list(tasks)}, label, force=force, step=step)


run_parallel = run_lanes  # the name the phases used first


def each_host(s, roles, fn, what: str):
    """fn(host) for each role's host at the same time (one thread each); results in the order of `roles`.

    Within one step, for work that is independent per host (C8 swaps old's
    files and new's). Every host's work runs to its end; a failure on one is
    reported with the host named, after the other has finished, as a
    RemoteError that says what the other host did.
    """
    roles = list(roles)
    results: dict[str, object] = {}
    errors: dict[str, BaseException] = {}

    def work(role):
        try:
            results[role] = fn(s.on(role))
        except BaseException as exc:  # noqa: BLE001
            errors[role] = exc

    threads = [threading.Thread(target=work, args=(role,), name=f"serverswap-{role}") for role in roles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        settings = s.settings
        failed = "; ".join(f"{lane_label(settings, r)}: {_one_line(e)}" for r, e in errors.items())
        ok = [lane_label(settings, r) for r in roles if r in results]
        raise RemoteError(f"{what} failed on {failed}" + (f"; done on {', '.join(ok)}" if ok else ""))
    return [results[role] for role in roles]
