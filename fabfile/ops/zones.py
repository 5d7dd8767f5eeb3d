"""BIND zone files and data (Z1 lower the TTL, A2 restore it, D1/A2 back up namedb).

A TTL change is one edit per zone file: `$TTL` set, SOA serial bumped (only
when the TTL changed, so a second run is "unchanged"), the candidate checked
with `named-checkzone ZONE TMPFILE` before it replaces the file, and BIND
told once at the end. The zone name `named-checkzone` needs comes from the
file itself (SOA owner or $ORIGIN) or, for the usual `@ IN SOA` file without
$ORIGIN, from the `zone "NAME" { file "..."; }` of named.conf.
"""

from __future__ import annotations

import datetime
import posixpath
import time

from ..edit import namedconf
from ..edit import zone as zone_edit
from ..commands import Script
from ..errors import RemoteError
from ..hostfiles import TEMP
from ..services import reload as reload_service
from ..services import restart as restart_service
from ..services import services_of, unit

CHECKZONE = "named-checkzone"


def parse_date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise RemoteError(f"`date +%F` answered {text.strip()!r}, not a date; check the host's date command") from None


def dated_name(name: str, day: datetime.date) -> str:
    """namedb -> namedb-YYYYMMDD (the seed's namedb-20091023)."""
    return f"{name}-{day:%Y%m%d}"


zone_name = zone_edit.zone_name
retime = zone_edit.retime


def zone_name_from_named_conf(text: str, path: str) -> str | None:
    conf = namedconf.parse(text) if isinstance(text, str) else text
    declared = conf.zone_for_file(path, basename_fallback=True)
    return declared.name if declared else None


# ---- on a host -------------------------------------------------------------


def host_today(host) -> datetime.date:
    """The host's own date: the date its admins will read in serials and backup names."""
    return parse_date(host.probe(["date", "+%F"]).stdout)


def read_named_conf(step, host):
    """named.conf with every file it includes, parsed as named reads it (None when there is none)."""
    bind = step.settings.bind
    path = posixpath.join(bind.etc_dir, bind.named_conf)
    if not host.exists(path):
        return None
    return namedconf.parse(host.read_text(path), path, read=host.read_text, glob=host.files.glob, start_dir=bind.etc_dir)


def require_checkzone(host) -> None:
    if not host.check(Script('command -v "$1" >/dev/null', CHECKZONE)):
        raise RemoteError(f"{host.alias}: {CHECKZONE} is not installed, so a zone file cannot be checked before it is installed; install bind9-utils")


def checkzone(zone: str) -> list[str]:
    return [CHECKZONE, "-q", zone, TEMP]


def _includes(host, conf, path: str):
    """A reader for a zone's $INCLUDE files, as named finds them (relative to its working directory)."""
    base = conf.cwd if conf is not None else posixpath.dirname(path)

    def read(name: str) -> str | None:
        full = name if name.startswith("/") else posixpath.join(base, name)
        return host.read_text(full) if host.exists(full) else None
    return read, base


def plan_ttl(step, host, path: str, ttl: int, conf, today, *, lower: bool):
    """The TTL plan of one zone file (Z1: lower every TTL above `ttl`; A2: set the default), from the zone model."""
    text = host.read_text(path)
    zone = zone_name(text, path, conf)
    read, base = _includes(host, conf, path)
    origin = zone if zone.endswith(".") else zone + "."
    if lower:
        plan = zone_edit.lower_ttl(text, ttl, today=today, origin=origin, includes=read, name=path)
    else:
        plan = zone_edit.set_default_ttl(text, ttl, today=today, origin=origin, includes=read, name=path)
    files = {(name if name.startswith("/") or name == path else posixpath.join(base, name)): new for name, new in plan.files.items()}
    return zone, plan, files


def set_ttl(step, host, ttl: int, *, lower: bool = True) -> tuple[list, int, list]:
    """Every ttl.zone_files to `ttl` (all or nothing), each file checked by named-checkzone; (results, largest TTL replaced, zones)."""
    from ..transaction import Transaction

    cfg = step.settings.ttl
    today, conf = host_today(host), read_named_conf(step, host)
    require_checkzone(host)
    plans = [(posixpath.join(cfg.zone_dir, n),) + plan_ttl(step, host, posixpath.join(cfg.zone_dir, n), ttl, conf, today, lower=lower)
             for n in cfg.zone_files]
    replaced, results = 0, []
    with Transaction(step, host, [p for _, _, _, files in plans for p in files]) as tx:
        try:
            for path, zone, plan, files in plans:
                replaced = max([replaced] + [c.before or 0 for c in plan.lowered])
                _say_plan(host, path, zone, plan, ttl)
                results += [host.edit(p, lambda _t, new=new: new, validate=checkzone(zone) if p == path else None) for p, new in files.items()]
        except BaseException:
            tx.undo()
            raise
    return results, replaced, [(zone, plan) for _, zone, plan, _ in plans]


def _say_plan(host, path: str, zone: str, plan, ttl: int) -> None:
    lowered = len(plan.lowered)
    host.say(f"{path}: zone {zone}: {lowered} TTL(s) to {ttl}" + (f", serial {plan.serial[0]} -> {plan.serial[1]}" if plan.serial else "")
             + (f"; {len(plan.left)} left above it: " + ", ".join(f"{c.owner} {c.rtype} ({c.before} s: {c.reason})" for c in plan.left) if plan.left else ""))


def reload_bind(step, host, *, restart: bool = False) -> bool:
    """Make a running BIND read its zones again: `rndc reload` when rndc answers, else SIGHUP (sysvinit: the
    script's reload), which named takes as `rndc reload`: it rereads named.conf and its zones, and keeps what it
    serves if they do not load (a restart would leave no DNS); the caller proves the served serial. On systemd,
    named's reload is rndc itself, so there (and with `restart`, A2) the service is restarted.

    A BIND that is not running is left alone (it reads the files when it starts).
    """
    service = step.settings.bind.service
    u = unit(host, service)
    if not u.running:
        host.say(f"{u.label()}: not running; it reads the new zone files when it starts")
        return False
    if not restart and host.check(["rndc", "status"]):
        host.change(["rndc", "reload"], what="rndc reload")
        if not host.dry and not unit(host, service, fresh=True).running:
            raise RemoteError(f"{host.alias}: {u.label()} is not running after the reload; see its log (named-checkconf, journalctl -u)")
    elif restart or services_of(host).name == "systemd":
        restart_service(host, service)   # reads the state back itself: running, or one line naming the log
    else:
        reload_service(host, service)    # the same
    if not host.dry:
        host.say(f"{u.label()}: reloaded the zones")
    return True


def apply_ttl(step, host, ttl: int, *, restart: bool = False) -> bool:
    """Z1 (lower) or A2 (restore): the TTLs in the files, BIND reloaded, then DNS answers with the new serial and TTL."""
    lower = not restart
    results, replaced, zones = set_ttl(step, host, ttl, lower=lower)
    changed = any(r.changed for r in results)
    if not changed:
        step.say(f"{step.info.ids[0]}: every zone already has TTL {'<= ' if lower else ''}{ttl} by value: unchanged")
        return False
    if not host.dry and lower and replaced > ttl:
        step.note(f"TTL {replaced} s lowered to {ttl} s: caches may keep the old records for {replaced} s", ttl_replaced=replaced, ttl_now=ttl)
    if reload_bind(step, host, restart=restart) and not host.dry:
        prove_served(step, host, zones, ttl, lower)
    return True


def prove_served(step, host, zones, ttl: int, lower: bool) -> None:
    """What the DNS server answers now: each zone's SOA with the file's new serial and the asked TTL (dnspython)."""
    from ..checks import soa

    for zone, plan in zones:
        wanted = plan.serial[1] if plan.serial else None
        deadline = time.monotonic() + 10
        while True:
            seen = soa(host.address, zone, step.settings.checks.timeout)
            ok = seen is not None and (wanted is None or seen[0] == wanted) and seen[1] <= ttl
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.05)     # one UDP query each: BIND answers the new serial once its reload is done
        if not ok:
            raise RemoteError(f"{host.alias}: the DNS server answers {zone} SOA {seen or 'nothing'}, expected serial {wanted} and TTL "
                              f"<= {ttl}; check named's log (is the zone loaded?), then run {step.info.ids[0]} again")
        host.say(f"DNS at {host.address}: {zone} SOA serial {seen[0]}, TTL {seen[1]}")


def backup_data(step, host) -> str:
    """cp -a namedb namedb-YYYYMMDD under bind.etc_dir (host's date); already there today: unchanged.

    The copy goes to a temporary name first and is renamed when complete, so
    a half-made copy never looks like the day's backup.
    """
    bind = step.settings.bind
    etc, data = bind.etc_dir, bind.data_dir
    target = dated_name(data, host_today(host))
    full = posixpath.join(etc, target)
    if host.exists(full):
        host.say(f"{full}: already there (today's backup), unchanged")
        host.record("unchanged", path=full)
        return full
    if not host.exists(posixpath.join(etc, data)):
        raise RemoteError(f"{host.alias}: {posixpath.join(etc, data)} does not exist; check bind.etc_dir and bind.data_dir in hosts.toml")
    tmp = f".{target}.serverswap-tmp"
    host.change(Script(COPY_THEN_RENAME, etc, data, tmp, target), what=f"cp -a {posixpath.join(etc, data)} {full}")
    return full


COPY_THEN_RENAME = 'cd "$1" && rm -rf -- "$3" && cp -a -- "$2" "$3" && mv -- "$3" "$4"'
