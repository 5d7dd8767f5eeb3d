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
import sys

from fabric import Connection, task
from invoke.exceptions import Exit

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
        journal.write("failed", host=alias, task=info.task_name, step=info.ids[0], detail=str(exc).splitlines()[0], duration=round(session_mod.time.monotonic() - timer, 3))
        raise Exit(f"{step_id} failed: {exc}") from None
    except BaseException as exc:
        journal.write("failed", host=alias, task=info.task_name, step=info.ids[0], detail=f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", duration=round(session_mod.time.monotonic() - timer, 3))
        raise
    if not session.dry:
        journal.write("done", host=alias, task=info.task_name, step=info.ids[0], duration=round(session_mod.time.monotonic() - timer, 3))
    return result


def run_sequence(c, tasks, label: str):
    """Run steps in runbook order; stop at the first failure and say what was and was not done."""
    done = []
    for index, t in enumerate(tasks):
        try:
            t(c)
        except (Exit, Exception) as exc:
            rest = [x.serverswap_step.task_name for x in tasks[index + 1:]]
            message = getattr(exc, "message", None) or str(exc)
            print(f"\n{label}: stopped at {t.serverswap_step.task_name}: {message}", file=sys.stderr)
            print(f"  done: {', '.join(done) or 'nothing'}", file=sys.stderr)
            print(f"  not done: {', '.join([t.serverswap_step.task_name] + rest)}", file=sys.stderr)
            raise Exit(f"{label} stopped at {t.serverswap_step.task_name}", code=1) from None
        done.append(t.serverswap_step.task_name)
    return done
