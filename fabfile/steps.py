"""`@step`: a fab task that is one runbook step, the registry of steps, and the lanes that run them.

A step knows its ID(s), title(s), the role of the host it runs on (or the
hosts it works on itself) and whether it asks for a confirmation. The
decorator does what every step must do and no step should repeat: find the
host (from -H or the role default, never the operator's machine), run the
role guard before the first change, journal start/done/failed with the
duration, give `--yes` to a step that confirms, and end with one line
that says what failed and what to do — never an Invoke dump or a traceback.

The registry (`REGISTRY`, `runbook()`) is what `fab plan`, `status`, the
report, the cockpit and the tests read: the runbook's steps in order, each
with its title and hosts. `run_lanes` runs steps in runbook order, one lane
per host (lanes side by side), resumes, and reports per lane what was done
and what was not; `run_sequence` is one lane.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import time
from dataclasses import dataclass, field

from fabric import Connection, task
from invoke.exceptions import Exit

from . import faults
from . import journal as journal_mod
from . import session as session_mod
from .edit import EditError
from .errors import RemoteError
from .settings import SettingsError

STEP_ID = re.compile(r"^[A-Z]\d+$")


@dataclass
class StepInfo:
    ids: tuple[str, ...]
    titles: tuple[str, ...]
    role: str | None
    hosts: tuple[str, ...]
    name: str
    namespace: str
    module: str = ""
    confirms: bool = False
    doc: str = ""
    body: object = field(default=None, repr=False)

    @property
    def task_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def title_of(self, step_id: str) -> str:
        return self.titles[self.ids.index(step_id)] if step_id in self.ids else self.titles[0]


REGISTRY: list[StepInfo] = []


def runbook(package: str = __package__) -> list[tuple[str, str, StepInfo]]:
    """(phase, step ID, info) in runbook order: the phases in order, each in the order its module declares them."""
    from . import PHASES, load_phases

    load_phases()
    seen, rows = set(), []
    for phase in PHASES:
        for info in REGISTRY:
            if info.module != f"{package}.{phase}":
                continue
            for sid in info.ids:
                if STEP_ID.match(sid) and sid not in seen:
                    seen.add(sid)
                    rows.append((phase, sid, info))
    return rows


def step_task(step_id: str):
    """The task that carries a step ID (first declared)."""
    for _phase, sid, info in runbook():
        if sid == step_id:
            return info.body
    raise KeyError(step_id)


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

    def require(self, question: str, refusal: str) -> None:
        """Ask; a "no" (or no terminal without --yes) stops the step with `refusal` (nothing was done)."""
        if not self.dry and not self.confirm(question):
            raise Exit(f"{'+'.join(self.info.ids)}: {refusal}")

    def accept_all(self, questions, refusal: str) -> None:
        """Each question asked in turn (the first "no" stops the step with `refusal`); nothing asked in a dry run."""
        for question in questions:
            self.require(question, refusal)

    def note(self, detail: str, **fields) -> None:
        self.session.journal.write("note", host=self.host.alias if self.host else None, task=self.info.task_name,
                                   step=self.info.ids[0], detail=detail, **fields)


def _alias_of(c, settings) -> str | None:
    if isinstance(c, Connection):
        alias = getattr(c, "serverswap_alias", None) or c.original_host
        if alias not in settings.hosts:
            raise SettingsError(settings.path, [f"unknown host {alias!r}: -H takes a host alias of hosts.toml ({', '.join(settings.hosts)})"])
        return alias
    return None


def _with_yes(fn, confirms: bool):
    """The task's signature: the body's, plus `yes` for a step that asks a confirmation."""
    signature = inspect.signature(fn)
    if not confirms or "yes" in signature.parameters:
        return signature
    params = list(signature.parameters.values()) + [inspect.Parameter("yes", inspect.Parameter.KEYWORD_ONLY, default=False)]
    return signature.replace(parameters=params)


def step(*ids: str, role: str | None, namespace: str, title: str | tuple = "", hosts: tuple = (), name: str | None = None,
         confirms: bool = False, default: bool = False):
    """Declare a runbook step. `role=None`: the step works on the hosts it names itself (`hosts`)."""
    titles = (title,) * len(ids) if isinstance(title, str) else tuple(title)

    def decorate(fn):
        info = StepInfo(ids, titles, role, tuple(hosts) or ((role,) if role else ()), (name or fn.__name__).replace("_", "-"),
                        namespace, fn.__module__, confirms, inspect.getdoc(fn) or "")
        takes_yes = "yes" in inspect.signature(fn).parameters

        @functools.wraps(fn)
        def body(c, *args, **kwargs):
            session = session_mod.current(getattr(c, "config", None))
            if confirms and not takes_yes and kwargs.pop("yes", False):
                session.assume_yes = True
            return run_step(session, info, fn, c, *args, **kwargs)

        body.__signature__ = _with_yes(fn, confirms)
        help_ = {"yes": "answer yes to the confirmation (scripted runs)"} if confirms else None
        t = task(body, name=info.name, default=default, help=help_)
        t.serverswap_step = info
        t.role = role
        info.body = t
        REGISTRY.append(info)
        return t

    return decorate


def phase_task(label: str, *, namespace: str, name: str = "all", hosts: tuple = (), doc_ids: str = ""):
    """A phase's default task (`fab prep`, `fab phase3`): runs its steps through run_lanes; takes --yes."""

    def decorate(fn):
        @functools.wraps(fn)
        def body(c, *args, yes=False, **kwargs):
            session = session_mod.current(getattr(c, "config", None))
            session.assume_yes |= yes
            return fn(c, *args, **kwargs)

        body.__signature__ = _with_yes(fn, True)
        t = task(body, name=name, default=True, help={"yes": "answer yes to every confirmation (scripted runs)"})
        t.serverswap_phase = label
        return t

    return decorate


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__


def run_step(session, info: StepInfo, fn, c, *args, **kwargs):
    step_id = "+".join(info.ids)
    journal = session.journal
    alias = None
    timer = time.monotonic()

    def end(event: str, detail: str | None = None) -> None:
        journal.write(event, host=alias, task=info.task_name, step=info.ids[0], detail=detail,
                      duration=round(time.monotonic() - timer, 3), dry=session.dry or None)

    try:
        alias = _alias_of(c, session.settings)
        host = _host_for(session, info, alias)
        alias = host.alias if host else None
        session.announce_open()
        print(f"== {step_id} {info.task_name}{' on ' + alias if alias else ''}{' (dry run)' if session.dry else ''}", file=session.out, flush=True)
        journal.write("start", host=alias, task=info.task_name, step=info.ids[0], dry=session.dry or None)
        result = fn(StepContext(session, info, host, c), *args, **kwargs)
    except Exit as exc:
        end("failed", _one_line(exc))
        raise
    except (RemoteError, EditError, SettingsError) as exc:
        end("failed", _one_line(exc))
        raise Exit(f"{step_id} failed: {_one_line(exc)}") from None
    except KeyboardInterrupt:
        end("failed", "interrupted (Ctrl-C)")
        raise
    except Exception as exc:  # noqa: BLE001 - a bug or an unexpected library error: still one line, journalled
        end("failed", f"{exc.__class__.__name__}: {_one_line(exc)}")
        raise Exit(f"{step_id} failed: {exc.__class__.__name__}: {_one_line(exc)} (unexpected; the journal has the record, "
                   f"run with SERVERSWAP_DEBUG=1 for the traceback)") from (exc if os.environ.get("SERVERSWAP_DEBUG") else None)
    if not session.dry:
        end("done")
        faults.point("step-done", info.ids[0])
    return result


def _host_for(session, info: StepInfo, alias: str | None):
    if alias is None and info.role:
        alias = session.settings.by_role(info.role).alias
    elif alias is not None and info.role is None:
        raise RemoteError(f"{info.task_name} works on the hosts it names itself; run it without -H")
    if alias is None:
        return None
    spec = session.settings.host(alias)
    if info.role and spec.role != info.role:
        raise RemoteError(f"{info.name} is for {info.role}; {spec.label()} is not {info.role}")
    host = session.host(alias)
    host.task, host.step = info.task_name, info.ids[0]
    session.guard(host, info.role, info.name)
    return host


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
# Pairs that are done together: once the closing step is done after the opening one, a resume skips both.
PAIRS = {"P1": "P4", "C1": "C5"}


def still_in_place(step_id: str, states: dict[str, dict]) -> bool:
    """Resume skips a step only if it is done, changed something, and no later step took that back.

    A done step that changed nothing (a check, a dry run, or everything
    already in place) has no effect to keep: it runs again, cheaply and safely.
    """
    last = states.get(step_id)
    if not last or last.get("event") != "done" or not last.get("changed") or backed_out(last, states):
        return False
    return not any(
        states.get(undo, {}).get("event") == "done" and states[undo].get("time", "") > last.get("time", "")
        for undo in UNDONE_BY.get(step_id, ())
    )


def backed_out(record: dict, states: dict[str, dict]) -> bool:
    """A back-out done after this record took the night back: nothing of before it is in place."""
    back = states.get("backout")
    return bool(back and back.get("event") == "done" and back.get("time", "") > record.get("time", ""))


def pair_closed(step_id: str, states: dict[str, dict]) -> bool:
    """P1/P4, C1/C5: the opening and its closing both done, the closing after: the pair stays done on a resume."""
    opening = next((o for o, c in PAIRS.items() if step_id in (o, c)), None)
    if opening is None:
        return False
    first, last = states.get(opening), states.get(PAIRS[opening])
    return bool(first and last and first.get("event") == last.get("event") == "done" and last.get("time", "") > first.get("time", "")
                and not backed_out(first, states))


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


def lane_label(settings, name: str) -> str:
    """"old (tako)": a lane named by role shows the host alias it runs on."""
    try:
        alias = settings.by_role(name).alias
    except Exception:  # noqa: BLE001 - a lane named otherwise ("old mail")
        return name
    return name if alias == name else f"{name} ({alias})"


@dataclass
class Lane:
    name: str
    tasks: list
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: str | None = None
    at: int = 0

    def rest(self) -> list[str]:
        return [t.serverswap_step.task_name for t in self.tasks[self.at:]]


def __getattr__(name):
    """run_lanes & co. live in lanes.py (which builds on this module); importable from here too."""
    if name in ("each_host", "run_lanes", "run_parallel", "run_sequence"):
        from . import lanes

        return getattr(lanes, name)
    raise AttributeError(name)
