"""phase1: the swap starts. Check new's resolver, stop the web and mail on old, end the users' sessions."""

from __future__ import annotations

from invoke.exceptions import Exit

from .ops import daemons, resolver, sessions
from .remote import RemoteError
from .steps import run_parallel, step

NS = "phase1"


@step("S1", role="new", namespace=NS, name="check-resolver")
def check_resolver(s):
    """S1 (new): resolv.conf lists [resolver] nameservers and search; a check, it edits nothing."""
    cfg = s.settings["resolver"]
    found = resolver.parse_resolv_conf(s.host.read_text(cfg["path"]))
    problems = resolver.compare(found, cfg["nameservers"], cfg["search"])
    s.host.record("check", path=cfg["path"], detail="ok" if not problems else "; ".join(problems))
    if problems:
        fix = resolver.wanted_text(cfg["nameservers"], cfg["search"]).replace("\n", " | ")
        raise RemoteError(f"{s.host.alias}: {cfg['path']}: {'; '.join(problems)}; fix: make it say: {fix}")
    s.say(f"S1: {cfg['path']} lists {', '.join(found.nameservers)}; search {' '.join(found.search) or '(none)'}: as hosts.toml says")


@step("S2", role="old", namespace=NS, name="stop-web")
def stop_web(s):
    """S2 (old): stop the web server (stop_services.web) for now; off at boot is D3."""
    daemons.stop_all(s.host, s.settings["stop_services"]["web"], "stop_services.web")


@step("S3", role="old", namespace=NS, name="end-sessions")
def end_sessions(s, yes=False):
    """S3 (old): list the users' login processes, confirm (--yes), kill them; never yours, never daemons."""
    s.session.assume_yes |= yes
    victims = sessions.find_victims(s, s.host)
    if not victims:
        s.host.say("no user sessions: unchanged")
        s.host.record("unchanged", detail="no user sessions")
        return
    users = sorted({p.user for p in victims})
    s.say(f"S3: {len(victims)} processes of {len(users)} user(s) ({', '.join(users)}) will be killed:")
    s.say("\n".join(sessions.table(victims)))
    if not s.dry and not s.confirm(f"kill these {len(victims)} processes?"):
        raise Exit("S3: not confirmed; nothing killed")
    left = sessions.end_sessions(s.host, victims)
    if left:
        raise RemoteError(f"{s.host.alias}: {len(left)} processes survived kill -KILL ({', '.join(str(p.pid) for p in left)}); look at them with ps")


@step("S4", role="old", namespace=NS, name="stop-mail")
def stop_mail(s):
    """S4 (old): stop qmail, smtp (tcpserver) and pop3 (inetd) for now (stop_services.mail)."""
    daemons.stop_all(s.host, s.settings["stop_services"]["mail"], "stop_services.mail")


@step("S2+S4", role="old", namespace=NS, name="stop-services")
def stop_services(s):
    """S2+S4 (old): stop the web server and the mail services (stop_services.web + .mail) for now."""
    cfg = s.settings["stop_services"]
    daemons.stop_all(s.host, cfg["web"] + cfg["mail"], "stop_services")


@step("S1-S4", role=None, namespace=NS, name="all", default=True)
def all_(s, yes=False):
    """S1-S4 (new, old): S1 on new alongside S2-S4 on old (web stopped while sessions end and mail stops)."""
    s.session.assume_yes |= yes
    # S1 only reads new; S2 (web) and S3+S4 (sessions, mail) are independent on old: three lanes.
    run_parallel(s.c, {"new": [check_resolver], "old": [stop_web], "old mail": [end_sessions, stop_mail]}, "phase1")
