"""`@step`: a fab task that is one runbook step.

A step knows its ID and the role of the host it runs on. The decorator does
what every step must do and no step should repeat: find the host (from -H or
the role default, never the operator's machine), run the role guard before
the first change, journal start/done/failed with the duration, and close
with a line that says what happened.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading

from fabric import Connection, task
from invoke.exceptions import Exit

from . import journal as journal_mod
from . import session as session_mod
from .edit import EditError
from .remote import RemoteError
from .settings import SettingsError

STEPS: dict[str, "StepInfo"] = {}


class StepInfo:
    def __init__(self, ids, role, name, namespace, manual=False, doc=""):
        self.ids = ids
        self.role = role
        self.name = name
        self.namespace = namespace
        self.manual = manual
        self.doc = doc

    @property
    def task_name(self) -> str:
        return f"{self.namespace}.{self.name}"


class StepContext:
    """What a step body gets: its host, the settings, the session and the peers."""

    def __init__(self, session, info: StepInfo, host, c):
        self.session = session
        self.info = info
        self.host = host
        self.c = c
        self.settings = session.settings
        self.dry = session.dry

    def on(self, role_or_alias: str):
        """Another host this step reads from or writes to, guarded like the first."""
        settings = self.settings
        alias = role_or_alias if role_or_alias in settings.hosts else settings.by_role(role_or_alias).alias
        host = self.session.host(alias)
        host.task, host.step = self.info.task_name, self.info.ids[0]
        self.session.guard(host, None, self.info.task_name)
        return host

    def say(self, message: str) -> None:
        print(message, file=self.session.out, flush=True)

    def confirm(self, question: str) -> bool:
        return self.session.confirm(question)

    def note(self, detail: str, **fields) -> None:
        self.session.journal.write("note", host=self.host.alias if self.host else None, task=self.info.task_name, step=self.info.ids[0], detail=detail, **fields)


def _alias_of(c, settings) -> str | None:
    if isinstance(c, Connection):
        alias = getattr(c, "serverswap_alias", None) or c.original_host
        if alias not in settings.hosts:
            raise SettingsError(settings.path, [f"unknown host {alias!r}: -H takes a host alias of hosts.toml ({', '.join(settings.hosts)})"])
        return alias
    return None


def step(*ids: str, role: str | None, namespace: str, name: str | None = None, manual: bool = False, default: bool = False):
    """Declare a runbook step. `role=None`: the step works on several hosts itself."""

    def decorate(fn):
        info = StepInfo(ids, role, (name or fn.__name__).replace("_", "-"), namespace, manual, inspect.getdoc(fn) or "")

        @functools.wraps(fn)
        def body(c, *args, **kwargs):
            session = session_mod.current(getattr(c, "config", None))
            return run_step(session, info, fn, c, *args, **kwargs)

        body.__signature__ = inspect.signature(fn)
        t = task(body, name=info.name, default=default)
        t.serverswap_step = info
        t.role = role
        for sid in ids:
            STEPS[sid] = info
        return t

    return decorate


def run_step(session, info: StepInfo, fn, c, *args, **kwargs):
    step_id = "+".join(info.ids)
    journal = session.journal
    host = alias = None
    timer = session_mod.time.monotonic()
    try:
        alias = _alias_of(c, session.settings)
        if alias is None and info.role:
            alias = session.settings.by_role(info.role).alias
        elif alias is not None and info.role is None:
            raise RemoteError(f"{info.task_name} works on the hosts it names itself; run it without -H")
        if alias is not None:
            if info.role and session.settings.host(alias).role != info.role:
                spec = session.settings.host(alias)
                raise RemoteError(f"{info.name} is for {info.role}; {spec.label()} is not {info.role}")
            host = session.host(alias)
            host.task, host.step = info.task_name, info.ids[0]
            session.guard(host, info.role, info.name)
        print(f"== {step_id} {info.task_name}{' on ' + alias if alias else ''}{' (dry run)' if session.dry else ''}", file=session.out, flush=True)
        journal.write("start", host=alias, task=info.task_name, step=info.ids[0], dry=session.dry or None)
        result = fn(StepContext(session, info, host, c), *args, **kwargs)
    except (RemoteError, EditError, SettingsError) as exc:
        journal.write("failed", host=alias, task=info.task_name, step=info.ids[0], detail=str(exc).splitlines()[0], duration=round(session_mod.time.monotonic() - timer, 3), dry=session.dry or None)
        raise Exit(f"{step_id} failed: {exc}") from None
    except BaseException as exc:
        journal.write("failed", host=alias, task=info.task_name, step=info.ids[0], detail=f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", duration=round(session_mod.time.monotonic() - timer, 3), dry=session.dry or None)
        raise
    if not session.dry:
        journal.write("done", host=alias, task=info.task_name, step=info.ids[0], duration=round(session_mod.time.monotonic() - timer, 3))
    return result


def step_states(records) -> dict[str, dict]:
    """Last done/failed record per step ID, from real runs only (journal.last_state over them).

    A dry run's failure says nothing about the hosts, and a "skipped" record
    (resume, or the operator's "no") must not hide the "done" it skipped for.
    """
    dry: set = set()
    changed: set = set()
    real = []
    for record in records:
        key = (record.get("run"), record.get("step"))
        event = record.get("event")
        if event == "start":
            (dry.add if record.get("dry") else dry.discard)(key)
            changed.discard(key)
        elif event == "change":
            changed.add(key)
        elif event in ("done", "failed") and key not in dry and not record.get("dry"):
            real.append(dict(record, changed=key in changed))
    return journal_mod.last_state(real)


# Steps whose effect a later step takes back (root login opened, then restored as it was).
UNDONE_BY = {"P1": ("P4", "C5"), "C1": ("P4", "C5"), "Z1": ("A2",)}


def still_in_place(step_id: str, states: dict[str, dict]) -> bool:
    """Resume skips a step only if it is done, changed something, and no later step took that back.

    A done step that changed nothing (a check, a dry run, or everything
    already in place) has no effect to keep: it runs again, cheaply and safely.
    """
    last = states.get(step_id)
    if not last or last.get("event") != "done" or not last.get("changed"):
        return False
    return not any(
        states.get(undo, {}).get("event") == "done" and states[undo].get("time", "") > last.get("time", "")
        for undo in UNDONE_BY.get(step_id, ())
    )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "no")


def _ask_step(name: str) -> str:
    """--step: yes / no / continue (without asking again), as ansible-playbook --step."""
    while True:
        try:
            answer = input(f"run {name}? (y)es/(n)o/(c)ontinue: ").strip().lower()
        except (EOFError, OSError):
            return "stop"
        if answer in ("y", "yes", "n", "no", "c", "continue"):
            return answer[0]


def _flags(session, force, step):
    force = getattr(session, "force", False) or _env_flag("SERVERSWAP_FORCE") if force is None else force
    asking = getattr(session, "step_mode", False) or _env_flag("SERVERSWAP_STEP") if step is None else step
    return force, asking


def _skip_if_done(session, info, states, force) -> bool:
    """Resume: say and journal "done before, skipped" for a step whose change is still in place."""
    if force or not still_in_place(info.ids[0], states):
        return False
    last = states.get(info.ids[0])
    when = str(last.get("time", ""))[:19].replace("T", " ")
    print(f"== {'+'.join(info.ids)} {info.task_name}: done at {when}, skipped (--force runs it again)", file=session.out, flush=True)
    session.journal.write("skipped", host=last.get("host"), task=info.task_name, step=info.ids[0], detail=f"done at {when} (run {last.get('run')})", dry=session.dry or None)
    return True


def lane_label(settings, name: str) -> str:
    """"old (tako)": a lane named by role shows the host alias it runs on."""
    try:
        alias = settings.by_role(name).alias
    except Exception:
        return name
    return name if alias == name else f"{name} ({alias})"


def run_parallel(c, lanes: dict[str, list], label: str, *, force: bool | None = None, step: bool | None = None):
    """Run a sequence of steps per host ("old": [...], "new": [...]) at the same time, one thread per lane.

    For steps the runbook lets run side by side (phase1, phase3): each lane
    keeps its own order, and the lanes share nothing but the journal and the
    output (both thread-safe). The semantics of `run_sequence` per lane:
    resume skips, --force; at the first failure in any lane no lane starts
    another step (the step in progress ends), and the report says, per lane
    and host, what was done and what was not. With --step (asking before each
    step) the lanes run one after the other, in the order given.
    """
    session = session_mod.current(getattr(c, "config", None))
    force, asking = _flags(session, force, step)
    lanes = {name: list(tasks) for name, tasks in lanes.items() if tasks}
    if asking or len(lanes) < 2:
        return run_sequence(c, [t for tasks in lanes.values() for t in tasks], label, force=force, step=asking)
    states = step_states(session.journal.records())
    stopping = threading.Event()
    state = {name: {"done": [], "skipped": [], "failed": None, "at": 0} for name in lanes}

    def work(name, tasks):
        lane = state[name]
        for index, t in enumerate(tasks):
            lane["at"] = index
            if stopping.is_set():
                return
            info = t.serverswap_step
            if _skip_if_done(session, info, states, force):
                lane["skipped"].append(info.task_name)
                continue
            try:
                t(c)
            except BaseException as exc:  # noqa: BLE001 - reported below, with the host named
                lane["failed"] = (getattr(exc, "message", None) or str(exc) or exc.__class__.__name__).splitlines()[0]
                stopping.set()
                return
            lane["done"].append(info.task_name)
        lane["at"] = len(tasks)

    threads = [threading.Thread(target=work, args=(name, tasks), name=f"serverswap-{name}") for name, tasks in lanes.items()]
    for thread in threads:
        thread.start()
    interrupted = None
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt as exc:  # the lanes finish the step they are in, then stop
                stopping.set()
                interrupted = exc
                print(f"\n{label}: interrupted; waiting for the steps in progress to end", file=sys.stderr, flush=True)
    failed = [name for name in lanes if state[name]["failed"] is not None]
    if not failed and interrupted is None:
        return [t for name in lanes for t in state[name]["done"]]
    head = "; ".join(f"{lane_label(session.settings, n)} at {lanes[n][state[n]['at']].serverswap_step.task_name}: {state[n]['failed']}" for n in failed)
    print(f"\n{label}: stopped: {head or 'interrupted'}", file=sys.stderr)
    for name, tasks in lanes.items():
        lane = state[name]
        rest = [t.serverswap_step.task_name for t in tasks[lane["at"]:]]
        why = "" if name in failed or not rest else f" (not started: {'a failure in ' + ', '.join(failed) if failed else 'interrupted'})"
        print(f"  {lane_label(session.settings, name)}: done: {', '.join(lane['done']) or 'nothing'}"
              + (f" (skipped, done before: {', '.join(lane['skipped'])})" if lane["skipped"] else "")
              + f"; not done: {', '.join(rest) or 'nothing'}{why}", file=sys.stderr)
    if interrupted is not None:
        raise interrupted
    first = failed[0]
    raise Exit(f"{label} stopped at {lanes[first][state[first]['at']].serverswap_step.task_name} on {lane_label(session.settings, first)}", code=1)


def each_host(s, roles, fn, what: str):
    """fn(host) for each role's host at the same time (one thread each); results in the order of `roles`.

    Within one step, for work that is independent per host (C8 swaps old's
    files and new's). Every host's work runs to its end; a failure on one is
    reported with the host named, after the other has finished, and is raised
    as a RemoteError that says what the other host did.
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
        failed = "; ".join(f"{lane_label(settings, r)}: {str(e).splitlines()[0] if str(e) else e.__class__.__name__}" for r, e in errors.items())
        ok = [lane_label(settings, r) for r in roles if r in results]
        raise RemoteError(f"{what} failed on {failed}" + (f"; done on {', '.join(ok)}" if ok else ""))
    return [results[role] for role in roles]


def run_sequence(c, tasks, label: str, *, force: bool | None = None, step: bool | None = None):
    """Run steps in runbook order; stop at the first failure and say what was and was not done.

    Resume: a step the journal shows done (in this run or an earlier one),
    whose change is still in place (see `still_in_place`), is skipped unless
    `force`; `step` asks before each step. Both default to the session's
    `force` / `step_mode` (set by `fab rehearse --force/--step`), else to
    $SERVERSWAP_FORCE / $SERVERSWAP_STEP (`SERVERSWAP_FORCE=1 fab phase2`).
    """
    session = session_mod.current(getattr(c, "config", None))
    force, asking = _flags(session, force, step)
    states = step_states(session.journal.records())
    done, skipped = [], []

    def stop(index, message):
        t = tasks[index]
        rest = [x.serverswap_step.task_name for x in tasks[index + 1:]]
        print(f"\n{label}: stopped at {t.serverswap_step.task_name}: {message}", file=sys.stderr)
        print(f"  done: {', '.join(done) or 'nothing'}" + (f" (skipped, done before: {', '.join(skipped)})" if skipped else ""), file=sys.stderr)
        print(f"  not done: {', '.join([t.serverswap_step.task_name] + rest)}", file=sys.stderr)
        raise Exit(f"{label} stopped at {t.serverswap_step.task_name}", code=1)

    for index, t in enumerate(tasks):
        info = t.serverswap_step
        if _skip_if_done(session, info, states, force):
            skipped.append(info.task_name)
            continue
        if asking:
            answer = _ask_step(f"{'+'.join(info.ids)} {info.task_name}")
            if answer == "stop":
                stop(index, "no answer to --step (not a terminal)")
            if answer == "n":
                session.journal.write("skipped", task=info.task_name, step=info.ids[0], detail="operator answered no (--step)", dry=session.dry or None)
                print(f"== {info.task_name}: not run (answered no)", file=session.out, flush=True)
                continue
            if answer == "c":
                asking = False
        try:
            t(c)
        except (Exit, Exception) as exc:
            stop(index, getattr(exc, "message", None) or str(exc))
        done.append(info.task_name)
    return done
