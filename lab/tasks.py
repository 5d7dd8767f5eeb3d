"""invoke tasks for the lab: `inv lab.up`, lab.down, lab.reset, lab.reboot HOST, lab.ssh HOST, lab.status.

LAB_PROFILE=modern (environment) selects the systemd profile, as for `python3 -m lab.api`.

The top-level tasks.py adds `ns` (named "lab") to its collection.
"""
from __future__ import annotations

import json
import os
import sys
import time

from invoke import Collection, task

from . import api
from .build import LabError


def _guard(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except LabError as e:
        sys.exit(f"lab: {e}")


@task(help={"conflict": "seed the name/UID conflict fixture (same as LAB_CONFLICT=1)"})
def up(c, conflict=False):
    """Start the lab (builds the Debian base once, then seconds)."""
    t0 = time.monotonic()
    st = _guard(api.up, conflict=conflict or None)
    _print_status(st)
    print(f"lab up in {time.monotonic() - t0:.1f} s; ssh: inv lab.ssh HOST; config: {api.hosts_file()}")


@task
def down(c):
    """Stop the lab: no namespace, mount, bridge or process stays behind."""
    _guard(api.down)
    print("lab down")


@task(help={"conflict": "seed the name/UID conflict fixture (same as LAB_CONFLICT=1)"})
def reset(c, conflict=False):
    """Back to the seeded state: stop, re-extract + re-seed every host, start."""
    t0 = time.monotonic()
    st = _guard(api.reset, conflict=conflict or None)
    _print_status(st)
    print(f"lab reset in {time.monotonic() - t0:.1f} s")


@task(help={"host": "old, new or backup"})
def reboot(c, host):
    """Reboot HOST (seed: K scripts, fresh boot from /etc/rc2.d; modern: systemd's reboot) and wait for its sshd."""
    t0 = time.monotonic()
    _guard(api.reboot, host)
    print(f"{host} rebooted in {time.monotonic() - t0:.1f} s")


@task(help={"host": "old, new or backup", "command": "run this instead of a login shell"})
def ssh(c, host, command=""):
    """ssh to HOST as root with the operator key (lab/state/operator_key)."""
    argv = _guard(api.ssh_command, host) + ([command] if command else [])
    os.execvp(argv[0], argv)


@task(help={"json": "print JSON"})
def status(c, json_=False):
    """Show the lab: each host's state, address, hostname, boots."""
    st = _guard(api.status)
    if json_:
        print(json.dumps(st, indent=2))
    else:
        _print_status(st)


def _print_status(st: dict) -> None:
    b = st.get("bridge", {})
    profile = st[api.HOSTS[0]].get("profile", api.PROFILE)
    print(f"bridge {b.get('name')} {b.get('address')} {'up' if b.get('up') else 'absent'}; profile {profile}")
    for h in api.HOSTS:
        s = st[h]
        print(f"{h:7} {s['state']:9} {s.get('address') or '-':15} {s.get('hostname', '-'):12} "
              f"Debian {s.get('release') or '-':6} boots={s['boots']} init_pid={s['init_pid'] or '-'}")


ns = Collection("lab")
for t in (up, down, reset, reboot, ssh, status):
    ns.add_task(t)
