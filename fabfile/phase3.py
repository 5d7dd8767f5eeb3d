"""phase3: settle the services. Old keeps BIND and local mail only; new runs everything."""

from __future__ import annotations

from invoke.exceptions import Exit

from .ops import daemons, mail, zones
from .remote import RemoteError
from .services import ensure_enabled
from .steps import run_parallel, run_sequence, step

NS = "phase3"


def bind_host(s):
    return s.on(s.settings["bind"]["host"])


@step("D1", role=None, namespace=NS, name="backup-bind")
def backup_bind(s):
    """D1 (bind.host, default old): cp -a namedb namedb-YYYYMMDD under bind.etc_dir; once a day."""
    zones.backup_data(s, bind_host(s))


@step("D2", role=None, namespace=NS, name="bind-at-boot")
def bind_at_boot(s):
    """D2 (bind.host, default old): BIND on at boot (update-rc.d bind defaults); D5 proves it."""
    ensure_enabled(bind_host(s), s.settings["bind"]["service"], True)


@step("D4", role="old", namespace=NS, name="qmail-local-only")
def qmail_local_only(s):
    """D4 (old): qmail locals/rcpthosts = qmail.old (localhost); qmail started again for log mail."""
    changed = mail.set_control(s, s.host, s.settings["qmail"]["old"])
    # The runbook: start qmail again once the swap is over (S4 stopped it), so old can send its log mail.
    mail.qmail_running_after(s, s.host, changed)


@step("D3", role="old", namespace=NS, name="disable-services")
def disable_services(s):
    """D3 (old): disable_services off at boot (update-rc.d -f X remove; chmod 644 X)."""
    daemons.set_boot(s.host, s.settings["disable_services"]["services"], False, "disable_services.services")


@step("D5", role="old", namespace=NS, name="check-old-after-reboot")
def check_old_after_reboot(s, yes=False):
    """D5 (old): confirm, reboot old, reconnect; ps must show no disabled service, and BIND running."""
    s.session.assume_yes |= yes
    disabled = s.settings["disable_services"]["services"]
    wanted = {svc: daemons.daemon_names(s.host, svc) for svc in disabled}
    if s.dry:
        s.say(f"D5: dry run: would reboot {s.host.alias}, then check that {', '.join(disabled)} do not run and BIND does")
        return
    if not s.confirm(f"reboot {s.host.alias} ({s.host.spec.label()}) now?"):
        raise Exit("D5: reboot not confirmed; nothing done")
    timeout = s.settings["network"]["reconnect_timeout"]
    host = daemons.reboot_and_reconnect(s, s.host, timeout)
    bind = s.settings["bind"]
    bind_ok = bind["host"] != host.alias or daemons.wait_running(host, bind["service"], timeout)
    running = daemons.found_daemons(daemons.running_programs(host), wanted)
    detail = f"after reboot: running {running or 'none of the disabled'}; {bind['service']} {'running' if bind_ok else 'NOT running'}"
    host.record("check", detail=detail)
    if running:
        listed = ", ".join(f"{svc} ({' '.join(names)})" for svc, names in running.items())
        raise RemoteError(f"{host.alias}: after the reboot {listed} run; run phase3.disable-services (D3) again")
    if not bind_ok:
        raise RemoteError(f"{host.alias}: {bind['service']} is not running after the reboot; run phase3.bind-at-boot (D2) and check its log")
    host.say(f"after the reboot: none of {', '.join(disabled)} runs; {bind['service']} runs")


@step("N1", role="new", namespace=NS, name="qmail-control")
def qmail_control(s):
    """N1 (new): qmail locals/rcpthosts = qmail.new; show qmail-showctl; restart qmail if they changed."""
    changed = mail.set_control(s, s.host, s.settings["qmail"]["new"])
    s.say(mail.showctl(s, s.host).rstrip())
    mail.qmail_running_after(s, s.host, changed)


@step("N2", role="new", namespace=NS, name="bouncer")
def bouncer(s):
    """N2 (new): the list's bouncer file (bouncer.path) holds exactly bouncer.lines."""
    cfg = s.settings["bouncer"]
    mail.ensure_exact(s.host, cfg["path"], cfg["lines"])


@step("N3", role="new", namespace=NS, name="enable-services")
def enable_services(s):
    """N3 (new): enable_services on at boot (update-rc.d X defaults; chmod 755 X) and running."""
    names = s.settings["enable_services"]["services"]
    daemons.set_boot(s.host, names, True, "enable_services.services")
    daemons.start_all(s.host, names, "enable_services.services")


@step("D1-N3", role=None, namespace=NS, name="all", default=True)
def all_(s, reboot=False, yes=False):
    """D1-N3 (old, new): D1, D2, D4, D3 on old alongside N1, N2, N3 on new; with --reboot D5 (reboots old) after both."""
    s.session.assume_yes |= yes
    bind_role = s.settings.host(s.settings["bind"]["host"]).role
    lanes = {"old": [qmail_local_only, disable_services], "new": [qmail_control, bouncer, enable_services]}
    lanes[bind_role] = [backup_bind, bind_at_boot] + lanes.get(bind_role, [])  # D1-D2 on bind.host, first in its lane
    run_parallel(s.c, lanes, "phase3")
    if reboot:
        run_sequence(s.c, [check_old_after_reboot], "phase3")
