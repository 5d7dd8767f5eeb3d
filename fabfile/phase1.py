"""phase1: the swap starts. Check new's resolver, stop the web and mail on old, end the users' sessions."""

from __future__ import annotations

from invoke.exceptions import Exit

from .edit import resolvconf
from .errors import RemoteError
from .ops import daemons, sessions
from .steps import phase_task, run_lanes, step

NS = "phase1"


def after_ttl_wait(s) -> None:
    """The outage starts here: not before Z1's time + the TTL it replaced (caches), unless forced (journalled)."""
    from . import ttlwait
    from .steps import _flags

    records = list(s.session.journal.records())
    left = ttlwait.remaining(records)
    if left <= 0:
        return
    at = ttlwait.safe_at(records).isoformat(timespec="seconds")
    force, _ = _flags(s.session, None, None)
    if force or getattr(s.session, "skip_ttl_wait", False):
        why = "--force" if force else "rehearsal (--no-ttl-wait)"
        s.note(f"TTL wait not kept ({why}): {ttlwait.hms(left)} before {at}; caches may still send users to old")
        s.say(f"{s.info.ids[0]}: the TTL wait is not over ({ttlwait.hms(left)} left, until {at}); going on ({why})")
        return
    raise Exit(f"{s.info.ids[0]}: too early: caches may keep the old records until {at} (Z1 lowered a TTL; {ttlwait.hms(left)} left); "
               f"wait, or set SERVERSWAP_FORCE=1 to go on anyway (journalled)")


@step("S1", role="new", namespace=NS, name="check-resolver", title="check new's resolver")
def check_resolver(s):
    """S1 (new): resolv.conf lists [resolver] nameservers and search; a check, it edits nothing."""
    cfg = s.settings.resolver
    found = resolvconf.parse_resolv_conf(s.host.read_text(cfg.path))
    problems = resolvconf.compare(found, list(cfg.nameservers), list(cfg.search))
    s.host.record("check", path=cfg.path, detail="ok" if not problems else "; ".join(problems))
    if problems:
        fix = resolvconf.wanted_text(cfg.nameservers, cfg.search).replace("\n", " | ")
        raise RemoteError(f"{s.host.alias}: {cfg.path}: {'; '.join(problems)}; fix: make it say: {fix}")
    s.say(f"S1: {cfg.path} lists {', '.join(found.nameservers)}; search {' '.join(found.search) or '(none)'}: as hosts.toml says")


@step("S2", role="old", namespace=NS, name="stop-web", title="stop the web server on old")
def stop_web(s):
    """S2 (old): stop the web server (stop_services.web) for now; off at boot is D3."""
    after_ttl_wait(s)
    daemons.stop_all(s, s.host, s.settings.stop_services.web, "stop_services.web")


@step("S3", role="old", namespace=NS, name="end-sessions", title="end user sessions on old", confirms=True)
def end_sessions(s):
    """S3 (old): list the users' login processes, confirm (--yes), kill them; never yours, never daemons."""
    after_ttl_wait(s)
    victims = sessions.find_victims(s, s.host)
    if not victims:
        s.host.say("no user sessions: unchanged")
        s.host.record("unchanged", detail="no user sessions")
        return
    users = sorted({p.user for p in victims})
    s.say(f"S3: {len(victims)} processes of {len(users)} user(s) ({', '.join(users)}) will be killed:")
    s.say("\n".join(sessions.table(victims)))
    s.require(f"kill these {len(victims)} processes?", "not confirmed; nothing killed")
    left = sessions.end_sessions(s.host, victims)
    if left:
        raise RemoteError(f"{s.host.alias}: {len(left)} processes survived kill -KILL ({', '.join(str(p.pid) for p in left)}); look at them with ps")


@step("S4", role="old", namespace=NS, name="stop-mail", title="stop mail on old")
def stop_mail(s):
    """S4 (old): stop qmail, smtp (tcpserver) and pop3 (inetd) for now (stop_services.mail)."""
    after_ttl_wait(s)
    daemons.stop_all(s, s.host, s.settings.stop_services.mail, "stop_services.mail")


@step("S2", "S4", role="old", namespace=NS, name="stop-services", title=("stop the web server on old", "stop mail on old"))
def stop_services(s):
    """S2+S4 (old): stop the web server and the mail services (stop_services.web + .mail) for now."""
    after_ttl_wait(s)
    cfg = s.settings.stop_services
    daemons.stop_all(s, s.host, cfg.web + cfg.mail, "stop_services")


@phase_task("S1-S4", namespace=NS)
def all_(c):
    """S1-S4 (new, old): S1 on new alongside S2-S4 on old (web stopped while sessions end and mail stops)."""
    # S1 only reads new; S2 (web) and S3+S4 (sessions, mail) are independent on old: three lanes.
    run_lanes(c, {"new": [check_resolver], "old": [stop_web], "old mail": [end_sessions, stop_mail]}, "phase1")
