"""Run a step task in-process against the lab, the way `fab` would, and look at files from outside.

Each call gets a fresh Session (fresh connections, the journal in a temp
directory, --yes), so a second call is a real second run. Hashes are taken
through lab.api.exec, outside the code under test.
"""

from __future__ import annotations

import io
import shlex

from invoke import Context

from fabfile import session as session_mod
from fabfile import settings as settings_mod


class Run:
    def __init__(self, output: str, session):
        self.output, self.session = output, session

    def records(self):
        """This run's journal records (the journal file may hold earlier runs)."""
        return [r for r in self.session.journal.records() if r.get("run") == self.session.journal.run_id]

    @property
    def events(self):
        return [(r.get("step"), r["event"]) for r in self.records()]

    def changes(self):
        return [r for r in self.records() if r["event"] == "change"]


def settings(journal, hosts=None, **overrides):
    import lab.api as api

    s = settings_mod.load(api.hosts_file())
    overrides = dict(overrides)
    s = s.replace(operator={"journal": str(journal)} | overrides.pop("operator", {}), **overrides)
    return s.with_hosts(**(hosts or {}))


def run(task, journal, *, dry=False, overrides=None, hosts=None, yes=True, **kwargs) -> Run:
    """One `fab [--dry] task --yes` in-process; returns its output and the session (journal)."""
    import inspect

    if "yes" in inspect.signature(getattr(task, "body", task)).parameters:
        kwargs["yes"] = yes      # a task whose own --yes means "carry it out" (backout) gets it too
    out = io.StringIO()
    session = session_mod.Session(settings(journal, hosts, **(overrides or {})), dry=dry, out=out, assume_yes=yes)
    session_mod.set_current(session)
    try:
        task(Context(), **kwargs)
    finally:
        session.close()
        session_mod.set_current(None)
    return Run(out.getvalue(), session)


def sh(host: str, cmd: str, check: bool = True) -> str:
    import lab.api as api

    return api.exec(host, cmd, check=check).stdout


def hashes(host: str, paths) -> dict[str, str]:
    """sha256 (or 'missing') of each path; a directory is hashed over its files' names, modes and contents."""
    out = {}
    for path in paths:
        p = shlex.quote(path)
        out[path] = sh(host, f"if [ -d {p} ]; then cd {p} && find . -printf '%p %m %u:%g\\n' | sort | sha256sum; "
                             f"find . -type f -print0 | sort -z | xargs -0r sha256sum | sha256sum; "
                             f"elif [ -e {p} ]; then stat -c '%a %U:%G' {p}; sha256sum < {p}; else echo missing; fi")
    return out


def running(host: str) -> str:
    """`comm args` of every process on the host (both profiles: the host's own ps)."""
    return sh(host, "ps -eo comm=,args=")


def boot_links(host: str, service: str) -> str:
    """What makes SERVICE start at boot, as the host's init system sees it.

    seed (sysvinit): its S link in /etc/rc2.d and the init script's mode; modern (systemd): the
    unit the name resolves to and that unit's own UnitFileState (not is-enabled's exit status)."""
    import lab.api as api

    if api.PROFILE == "modern":
        return sh(host, f"systemctl show -p Id,UnitFileState,ActiveState {shlex.quote(service)}")
    return sh(host, f"ls /etc/rc2.d/ | grep -x 'S..{service}' || true; stat -c %a /etc/init.d/{service}")


def service(host: str, name: str, action: str) -> None:
    """Start or stop a service behind the tool's back, the way the host's own init system does it.

    seed: the init script (setsid: apache2's script signals its process group, which would include
    the exec shell); modern: systemctl (the lab's tcpserver and qmail are units with no script)."""
    import lab.api as api

    if api.PROFILE == "modern":
        sh(host, f"systemctl {shlex.quote(action)} {shlex.quote(name)} || true")
    else:
        sh(host, f"setsid /etc/init.d/{name} {action} </dev/null >/dev/null 2>&1 || true")


def eventually(fn, timeout=20.0, interval=0.3):
    """fn()'s first truthy value within timeout (services starting, a boot finishing)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
        except Exception:
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_booted(*hosts, timeout=60.0):
    """Each host has finished booting (seed: lab-init says up; modern: systemd is running or degraded)."""
    import lab.api as api

    for host in hosts:
        assert eventually(lambda: api.state(host) in ("up", "degraded"), timeout), f"{host} did not finish booting"


def programs(host: str) -> set[str]:
    """The program names running on a lab host (first column of `running`)."""
    return {line.split()[0] for line in running(host).splitlines() if line.split()}


class Night:
    """One operator's night: the journal and known_hosts every step of a test shares (copied, so a failed test leaves no stale line)."""

    def __init__(self, directory, lab):
        import shutil

        self.journal = directory / "journal.jsonl"
        self.known_hosts = directory / "known_hosts"
        shutil.copy(lab.hosts_file().parent / "state" / "known_hosts", self.known_hosts)

    def run(self, task, dry=False, overrides=None, **kwargs):
        merged = {"operator": {"known_hosts": str(self.known_hosts)}}
        for section, values in (overrides or {}).items():
            merged.setdefault(section, {}).update(values)
        r = run(task, self.journal, dry=dry, overrides=merged, **kwargs)
        mine = r.session.journal.run_id
        everything = r.changes
        r.changes = lambda: [c for c in everything() if c.get("run") == mine]   # this run's changes only
        return r
