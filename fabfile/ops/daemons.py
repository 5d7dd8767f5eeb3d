"""Sets of services (S2/S4 stop, D3 off at boot, N3 on at boot) and the reboot check of D5.

Everything goes through fabfile.services, which picks sysvinit or systemd
per host and reads every change back from the init system. A service name
that the host does not know is an error naming the hosts.toml key, never a
silent "stopped". Stopping services on old opens an exposure (the site is
down until new serves it), shown until new's checks pass.
"""

from __future__ import annotations

import time

from ..errors import HostKeyError, RemoteError
from ..exposures import SERVICES, open_exposure
from ..services import ensure_enabled, ensure_running, require, services_of, unit

PID1_START = ["cut", "-d", " ", "-f", "22", "/proc/1/stat"]


def stop_all(step, host, names, key: str) -> int:
    units = require(host, names, key)
    stopped = sum(ensure_running(host, u.name, running=False) for u in units)
    if stopped and not host.dry:
        open_exposure(step, host, SERVICES, detail=", ".join(u.label() for u in units))
    return stopped


def set_boot(host, names, enabled: bool, key: str, *, mask: bool = False) -> int:
    units = require(host, names, key)
    return sum(ensure_enabled(host, u.name, enabled, mask=mask) for u in units)


def start_all(host, names, key: str) -> int:
    units = require(host, names, key)
    return sum(ensure_running(host, u.name) for u in units)


def daemon_names(host, service: str) -> list[str]:
    """What `ps` shows for a service: the program its unit or init script starts (else its name)."""
    return services_of(host).daemon_names(unit(host, service))


def running_programs(host) -> set[str]:
    """Program names of `ps` (comm, and argv[0]'s basename for scripts)."""
    out = host.probe(["ps", "-eo", "comm=,args="]).stdout
    names = set()
    for line in out.splitlines():
        words = line.split()
        if words:
            names.add(words[0])
            if len(words) > 1:
                names.add(words[1].rsplit("/", 1)[-1].rstrip(":"))
    return names


def found_daemons(programs: set[str], wanted: dict[str, list[str]]) -> dict[str, list[str]]:
    """{service: its programs that are running} for the services with any running (pure)."""
    return {svc: [n for n in names if n in programs] for svc, names in wanted.items() if any(n in programs for n in names)}


# ---- D5: reboot and come back -------------------------------------------


def pid1_started(host, timeout: int = 10) -> str:
    """When PID 1 started (clock ticks): changes with every boot, also in a container."""
    return host.probe(PID1_START, timeout=timeout).stdout.strip()


def reboot_and_reconnect(step, host, timeout: int):
    """Launch `reboot` detached, drop the connection, reconnect until PID 1 is a new one."""
    alias = host.alias
    before = pid1_started(host)
    host.launch(["reboot"], delay=1, what="reboot")
    session = step.session
    session.drop(alias)
    deadline = time.monotonic() + timeout
    time.sleep(2)
    while True:
        try:
            fresh = session.reconnect(alias, timeout=max(1, int(deadline - time.monotonic())))
            if pid1_started(fresh, timeout=5) not in ("", before):
                fresh = step.on(alias)
                fresh.say("back after the reboot")
                return fresh
        except HostKeyError:
            raise
        except RemoteError:
            pass  # not back yet, or the old connection dying under us
        session.drop(alias)
        if time.monotonic() > deadline:
            raise RemoteError(f"{alias}: not back within {timeout} s after the reboot; check its console (network.reconnect_timeout)")
        time.sleep(1)


def wait_running(host, service: str, timeout: int) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if unit(host, service, fresh=True).running:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
