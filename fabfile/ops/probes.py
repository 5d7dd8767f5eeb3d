"""Proof from the running system and from outside: what a step claims, checked where users would see it.

D5 after old's reboot: each disabled service is off by the init system's
own state (unit or rc links, and not running), none of its programs is in
`ps`, no socket is listened on by one of them (`ss -ltnp`), and, from the
operator's machine, old's web and POP3 ports refuse a connection — the
way a user's client would find them.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

from ..services import unit
from . import daemons

POP3_PORT = 110


def port_answers(address: str, port: int, timeout: float = 3.0) -> bool:
    """Does a TCP connection to address:port succeed (from the operator's machine)?"""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def site_ports(settings) -> list[int]:
    """The ports users reach old's disabled services on: the web's (checks.http_urls) and POP3's."""
    ports = {urlsplit(url).port or (443 if url.startswith("https:") else 80) for url in settings.checks.http_urls} or {80}
    return sorted(ports | {POP3_PORT})


def listeners(host) -> dict[str, list[str]]:
    """{program: [local address:port, ...]} of the listening TCP sockets (ss -ltnpH)."""
    out = host.probe(["ss", "-ltnpH"]).stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        for program in re.findall(r'\("([^"]+)",pid=', line):
            found.setdefault(program, []).append(fields[3])
    return found


def after_reboot(step, host) -> list[str]:
    """D5's proof (see the module doc): problems, one phrase each; [] when all is as it should be."""
    settings = step.settings
    problems = []
    wanted = {svc: daemons.daemon_names(host, svc) for svc in settings.disable_services.services}
    for svc in settings.disable_services.services:
        u = unit(host, svc, fresh=True)
        if u.enabled or u.running:
            problems.append(f"{u.label()} is {'on at boot' if u.enabled else ''}{' and ' if u.enabled and u.running else ''}{'running' if u.running else ''} "
                            f"({u.state or 'init system'}): run phase3.disable-services (D3) again")
    running = daemons.found_daemons(daemons.running_programs(host), wanted)
    problems += [f"{svc} runs ({' '.join(names)} in ps)" for svc, names in running.items()]
    listening = listeners(host)
    problems += [f"{svc}'s {name} listens on {', '.join(listening[name])}" for svc, names in wanted.items() for name in names if name in listening]
    problems += [f"port {port} answers on {host.address} from outside" for port in site_ports(settings) if port_answers(host.address, port)]
    bind = settings.bind
    if bind.host == host.alias and not daemons.wait_running(host, bind.service, settings.network.reconnect_timeout):
        problems.append(f"{unit(host, bind.service).label()} is not running: run phase3.bind-at-boot (D2) and check its log")
    host.record("check", detail="after reboot: " + ("; ".join(problems) or "disabled services off (init system, ps, sockets, ports), BIND runs"))
    if not problems:
        host.say(f"after the reboot: none of {', '.join(wanted)} runs, listens or answers on {', '.join(map(str, site_ports(settings)))}; "
                 f"{bind.service} runs")
    return problems
