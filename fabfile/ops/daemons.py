"""Sets of services (S2/S4 stop, D3 off at boot, N3 on at boot) and the reboot check of D5.

Everything goes through fabfile.services, which picks sysvinit or systemd
per host. A service name that the host does not know is an error naming the
hosts.toml key, never a silent "stopped".
"""

from __future__ import annotations

import shlex
import time

from invoke.exceptions import CommandTimedOut
from paramiko import SSHException

from ..remote import Host, RemoteError
from ..session import HostKeyError
from ..services import SysV, daemons_of_script, ensure_enabled, ensure_running, ensure_stopped, services_of

REBOOT = "reboot"
PID1_START = "cut -d' ' -f22 /proc/1/stat"


def require(host: Host, names: list[str], key: str) -> None:
    svc = services_of(host)
    unknown = [name for name in names if not svc.exists(name)]
    if unknown:
        raise RemoteError(f"{host.alias}: no service {', '.join(unknown)} here; fix {key} in hosts.toml")


def stop_all(host: Host, names: list[str], key: str) -> int:
    require(host, names, key)
    return sum(ensure_stopped(host, name) for name in names)


def set_boot(host: Host, names: list[str], enabled: bool, key: str) -> int:
    require(host, names, key)
    return sum(ensure_enabled(host, name, enabled) for name in names)


def start_all(host: Host, names: list[str], key: str) -> int:
    require(host, names, key)
    return sum(ensure_running(host, name) for name in names)


def daemon_names(host: Host, service: str) -> list[str]:
    """What `ps` shows for a service: the programs its init script starts (else its name)."""
    svc = services_of(host)
    if isinstance(svc, SysV):
        script = svc._script(service)
        if script is not None:
            return daemons_of_script(script, service)
    return [service]


def running_programs(host: Host) -> set[str]:
    """Program names of `ps` (comm, and argv[0]'s basename for scripts)."""
    out = host.probe("ps -eo comm=,args=", warn=False).stdout
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


def pid1_started(host: Host, timeout: int = 10) -> str:
    """When PID 1 started (clock ticks): changes with every boot, also in a container."""
    return host.probe(PID1_START, warn=False, timeout=timeout).stdout.strip()


def reboot_and_reconnect(step, host: Host, timeout: int) -> Host:
    """Launch `reboot` detached, drop the connection, reconnect until PID 1 is a new one."""
    alias = host.alias
    before = pid1_started(host)
    host.change(f"nohup sh -c {shlex.quote('sleep 1; ' + REBOOT)} >/dev/null 2>&1 &", what=REBOOT)
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
        except (RemoteError, CommandTimedOut, SSHException, EOFError, OSError):
            pass  # not back yet, or the old connection dying under us
        session.drop(alias)
        if time.monotonic() > deadline:
            raise RemoteError(f"{alias}: not back within {timeout} s after the reboot; check its console (network.reconnect_timeout)")
        time.sleep(1)


def wait_running(host: Host, service: str, timeout: int) -> bool:
    svc = services_of(host)
    deadline = time.monotonic() + timeout
    while True:
        if svc.is_running(service):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
