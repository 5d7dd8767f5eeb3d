"""phase3: settle the services. Old keeps BIND and local mail only; new runs everything."""

from __future__ import annotations

from .errors import RemoteError
from .ops import daemons, mail, probes, zones
from .services import ensure_enabled
from .steps import phase_task, run_lanes, run_sequence, step

NS = "phase3"


def bind_host(s):
    return s.on(s.settings.bind.host)


@step("D1", role=None, namespace=NS, name="backup-bind", title="back up the BIND data", hosts=("bind.host",))
def backup_bind(s):
    """D1 (bind.host, default old): cp -a namedb namedb-YYYYMMDD under bind.etc_dir; once a day."""
    zones.backup_data(s, bind_host(s))


@step("D2", role=None, namespace=NS, name="bind-at-boot", title="BIND starts at boot", hosts=("bind.host",))
def bind_at_boot(s):
    """D2 (bind.host, default old): BIND on at boot (update-rc.d bind defaults / systemctl enable named); D5 proves it."""
    ensure_enabled(bind_host(s), s.settings.bind.service, True)


@step("D4", role="old", namespace=NS, name="qmail-local-only", title="qmail on old accepts nothing from outside")
def qmail_local_only(s):
    """D4 (old): qmail locals/rcpthosts = qmail.old (localhost); qmail and its smtp started again (log mail; V5 talks to it)."""
    changed = mail.set_control(s, s.host, s.settings.qmail.old)
    # The runbook: start qmail again once the swap is over (S4 stopped it), so old can send its log mail; its SMTP
    # (stopped by S4 too, and not kept off by D3) answers again, refusing the site's domains (V5).
    mail.qmail_running_after(s, s.host, changed)
    cfg = s.settings
    smtp = [n for n in cfg.stop_services.mail if n != cfg.qmail.service and n not in cfg.disable_services.services]
    daemons.start_all(s.host, smtp, "stop_services.mail")


@step("D3", role="old", namespace=NS, name="disable-services", title="services off at boot on old")
def disable_services(s, mask=False):
    """D3 (old): disable_services off at boot (sysvinit: update-rc.d -f X remove; chmod 644 X; systemd: disable; --mask)."""
    daemons.set_boot(s.host, s.settings.disable_services.services, False, "disable_services.services", mask=mask)


@step("D5", role="old", namespace=NS, name="check-old-after-reboot", title="reboot old and check", confirms=True)
def check_old_after_reboot(s):
    """D5 (old): confirm, reboot old, reconnect; the disabled services are off (unit state, ps, their ports from outside), BIND runs."""
    disabled = s.settings.disable_services.services
    if s.dry:
        s.say(f"D5: dry run: would reboot {s.host.alias}, then check that {', '.join(disabled)} do not run nor answer, and BIND runs")
        return
    s.require(f"reboot {s.host.alias} ({s.host.spec.label()}) now?", "reboot not confirmed; nothing done")
    host = daemons.reboot_and_reconnect(s, s.host, s.settings.network.reconnect_timeout)
    problems = probes.after_reboot(s, host)
    if problems:
        raise RemoteError(f"{host.alias}: after the reboot: {'; '.join(problems)}")


@step("N1", role="new", namespace=NS, name="qmail-control", title="qmail control on new")
def qmail_control(s):
    """N1 (new): qmail locals/rcpthosts = qmail.new; show qmail-showctl; restart qmail if they changed."""
    changed = mail.set_control(s, s.host, s.settings.qmail.new)
    s.say(mail.showctl(s, s.host).rstrip())
    mail.qmail_running_after(s, s.host, changed)


@step("N2", role="new", namespace=NS, name="bouncer", title="mailing list bouncer")
def bouncer(s):
    """N2 (new): the list's bouncer file (bouncer.path) holds exactly bouncer.lines."""
    cfg = s.settings.bouncer
    mail.ensure_exact(s.host, cfg.path, cfg.lines)


@step("N3", role="new", namespace=NS, name="enable-services", title="services on at boot on new")
def enable_services(s):
    """N3 (new): enable_services on at boot (the real unit's UnitFileState / rc links) and running."""
    names = s.settings.enable_services.services
    daemons.set_boot(s.host, names, True, "enable_services.services")
    daemons.start_all(s.host, names, "enable_services.services")


@phase_task("D1-N3", namespace=NS)
def all_(c, reboot=False):
    """D1-N3 (old, new): D1, D2, D4, D3 on old alongside N1, N2, N3 on new; with --reboot D5 (reboots old) after both."""
    from . import session as session_mod

    settings = session_mod.current(getattr(c, "config", None)).settings
    bind_role = settings.host(settings.bind.host).role
    lanes = {"old": [qmail_local_only, disable_services], "new": [qmail_control, bouncer, enable_services]}
    lanes[bind_role] = [backup_bind, bind_at_boot] + lanes.get(bind_role, [])  # D1-D2 on bind.host, first in its lane
    run_lanes(c, lanes, "phase3")
    if reboot:
        run_sequence(c, [check_old_after_reboot], "phase3")
