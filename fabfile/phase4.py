"""phase4: the final checks (V1-V6), the backup check (B1) and the manual confirmations.

The checks talk to the services from the operator's machine with real
protocol clients (fabfile/checks.py) at each host's current address (after
C10: its `after` address). They change nothing on the hosts (V3/V4 send a
tagged test message and delete it once found), so they run the same in a
dry run. Every result is journalled as a "check" record. `fab phase4` runs
them all and prints one table; the exit status is non-zero on any FAIL.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from fabric import task
from invoke.exceptions import Exit

from . import checks as ck
from . import session as session_mod
from .ops import backupcheck
from .errors import RemoteError
from .steps import step

NS = "phase4"


def where(s, role: str) -> tuple[str, str]:
    """(alias, address now) of the host with `role`: its after address once the journal says it swapped."""
    spec = s.settings.by_role(role)
    return spec.alias, spec.address_for(s.session.journal.swapped(spec.alias))


def site_domains(settings) -> list[str]:
    """The domains new takes mail for: N1's rcpthosts without localhost."""
    return [d for d in settings.qmail.new if d != "localhost"]


def finish(s, results: list[ck.Check]) -> list[ck.Check]:
    """Journal each result; print the table (or hand it to `phase4.check`); fail the step on any FAIL."""
    for r in results:
        r.step = r.step or s.info.ids[0]
        s.session.journal.write(
            "check", host=r.host or None, task=s.info.task_name, step=r.step, check=r.name, ok=r.ok,
            expected=r.expected, seen=r.seen, kind=r.kind or None, detail=r.reason or None,
        )
    collector = getattr(s.session, "check_results", None)
    if collector is not None:
        collector.extend(results)
    else:
        s.say(ck.table(results))
    failed = [r for r in results if r.verdict == "FAIL"]
    if failed:
        raise RemoteError(f"{len(failed)} of {len(results)} check(s) failed; first: {failed[0].name}: {failed[0].reason}")
    return results


@step("V1", role=None, namespace=NS, name="check-http", title="http", hosts=("new",))
def check_http(s):
    """V1 (new): the site answers over HTTP (status, and checks.http_marker in the page)."""
    cfg = s.settings.checks
    alias, address = where(s, "new")
    if not cfg.http_urls:
        return finish(s, [ck.skipped("V1 http", alias, "checks.http_urls is empty")])
    return finish(s, [ck.http_check(url, address, cfg.http_marker, cfg.timeout, host=alias) for url in cfg.http_urls])


@step("V2", role=None, namespace=NS, name="check-pop", title="pop", hosts=("new",))
def check_pop(s):
    """V2 (new): POP3 login of checks.pop_user (APOP when offered) and the mailbox listed."""
    cfg = s.settings.checks
    alias, address = where(s, "new")
    if not cfg.pop_user:
        return finish(s, [ck.skipped("V2 pop", alias, "checks.pop_user is empty")])
    return finish(s, [ck.pop_check(address, cfg.pop_user, cfg.pop_password, cfg.pop_method, cfg.timeout, host=alias)])


@step("V3", role=None, namespace=NS, name="check-smtp", title="smtp", hosts=("new",))
def check_smtp(s):
    """V3 (new): SMTP accepts mail for the site's domains; a test message reaches the POP mailbox."""
    cfg = s.settings.checks
    alias, address = where(s, "new")
    local = cfg.pop_user or "postmaster"
    sender = f"{local}@{cfg.mail_domain}" if cfg.mail_domain else ""
    results = [ck.smtp_accepts(address, f"{local}@{domain}", sender, cfg.timeout, host=alias) for domain in site_domains(s.settings)]
    if cfg.pop_user and cfg.mail_domain:
        results.append(ck.mail_roundtrip(address, address, cfg.pop_user, cfg.pop_password, cfg.pop_method, cfg.mail_domain,
                                         wait=cfg.mail_wait, timeout=cfg.timeout, host=alias))
    else:
        results.append(ck.skipped("V3 mail roundtrip", alias, "checks.pop_user or checks.mail_domain is empty"))
    return finish(s, results)


def member_password(cfg) -> str:
    """The list member's POP password: its own, or pop_password when the member is pop_user."""
    if cfg.list_member_password:
        return cfg.list_member_password
    local = cfg.list_member.split("@", 1)[0]
    return cfg.pop_password if cfg.pop_user and local == cfg.pop_user else ""


@step("V4", role=None, namespace=NS, name="check-list", title="mailing list", hosts=("new",))
def check_list(s):
    """V4 (new): a message to the mailing list reaches checks.list_member's mailbox."""
    cfg = s.settings.checks
    alias, address = where(s, "new")
    if not (cfg.list_address and cfg.list_member):
        return finish(s, [ck.skipped("V4 mailing list", alias, "checks.list_address or checks.list_member is empty")])
    return finish(s, [ck.list_delivery(address, cfg.list_address, cfg.list_member, pop_address=address,
                                       member_secret=member_password(cfg), method=cfg.pop_method,
                                       wait=cfg.mail_wait, timeout=cfg.timeout, host=alias)])


@step("V5", role=None, namespace=NS, name="check-old-closed", title="old: http/pop off, smtp refuses", hosts=("old",))
def check_old_closed(s):
    """V5 (old): http and pop are off; smtp answers but refuses mail for the site's domains."""
    cfg = s.settings.checks
    alias, address = where(s, "old")
    results = [ck.http_refused(url, address, cfg.timeout, host=alias) for url in cfg.http_urls]
    results.append(ck.port_closed(address, ck.poplib.POP3_PORT, cfg.timeout, host=alias, name="V5 pop off", what="pop3"))
    local = cfg.pop_user or "postmaster"
    sender = f"{local}@{cfg.mail_domain}" if cfg.mail_domain else ""
    results += [ck.smtp_refuses_rcpt(address, f"{local}@{domain}", sender, cfg.timeout, host=alias) for domain in site_domains(s.settings)]
    return finish(s, results)


@step("V6", role=None, namespace=NS, name="check-dns", title="DNS on old and new", hosts=("old", "new"))
def check_dns(s):
    """V6 (old, new): both DNS servers, asked directly, give checks.dns's address for each name."""
    cfg = s.settings.checks
    if not cfg.dns:
        return finish(s, [ck.skipped("V6 dns", "", "checks.dns is empty")])
    results = []
    for role in ("old", "new"):
        alias, address = where(s, role)
        results += [ck.dns_check(address, name, expected, cfg.timeout, host=alias) for name, expected in cfg.dns.items()]
    return finish(s, results)


@step("B1", role="backup", namespace=NS, name="check-backup", title="the backup still runs")
def check_backup(s):
    """B1 (backup): the backup scripts run in dry-run mode end well (exit status and log tail)."""
    results = []
    for script in s.settings.backup_check.scripts:
        outcome = backupcheck.dry_run(s.host, s.settings.backup_check, script)
        for line in outcome.tail:
            s.host.say(f"  {outcome.log}: {line}")
        results.append(outcome.check)
    return finish(s, results)


CHECKS = [check_http, check_pop, check_smtp, check_list, check_old_closed, check_dns, check_backup]


class _Collector:
    """session.check_results while `check` runs: each check's thread collects its own results."""

    def __init__(self):
        self._local = threading.local()

    def start(self) -> list:
        self._local.items = []
        return self._local.items

    def extend(self, results) -> None:
        self._local.items.extend(results)


def _run_check(c, t, collector: _Collector, session) -> list[ck.Check]:
    info = t.serverswap_step
    mine = collector.start()
    try:
        t(c)
    except Exit as exc:
        if not mine:   # the step broke before it could check anything
            alias = session.settings.by_role(info.role).alias if info.role else ""
            reason = (getattr(exc, "message", None) or str(exc)).splitlines()[0]
            mine.append(ck.Check(f"{info.ids[0]} {info.name}", alias, "runs", "error", False, reason, info.ids[0]))
    return mine


@task(name="check", default=True)
def check(c):
    """V1-V6+B1 (new, old, backup): every check at once (they are independent), one table; exit 1 on any FAIL."""
    session = session_mod.current(getattr(c, "config", None))
    collector = session.check_results = _Collector()
    try:
        # Independent checks, most of them waiting on the network (V3/V4 on mail delivery): one thread each.
        # The table keeps the runbook's order whatever order they finish in.
        with ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="serverswap-check") as pool:
            futures = [pool.submit(_run_check, c, t, collector, session) for t in CHECKS]
            results = [r for f in futures for r in f.result()]
    finally:
        session.check_results = None
    print(ck.table(results), file=session.out, flush=True)
    pending = session.settings.checks.manual
    if pending:
        print(f"\n{len(pending)} manual check(s) to confirm: fab phase4.manual", file=session.out, flush=True)
    failed = [r for r in results if r.verdict == "FAIL"]
    if failed:
        raise Exit(f"phase4: {len(failed)} of {len(results)} check(s) FAILED", code=1)
    close_stopped_services(session)
    return results


def close_stopped_services(session) -> None:
    """Every check passed: new serves the site, so old's stopped services are the plan, no longer an exposure."""
    from .exposures import SERVICES, still_open

    for record in still_open(list(session.journal.records())):
        if record["exposure"] == SERVICES:
            session.journal.write("note", host=record["host"], task=f"{NS}.check", step="V1", exposure=SERVICES, state="closed",
                                  detail="new passes V1-V6: the site is served by new")


def _ask(item: str) -> str:
    while True:
        try:
            answer = input("  done and working? [y/n/s(kip)] ").strip().lower()
        except (EOFError, OSError):
            return "skip"
        if answer in ("y", "yes"):
            return "yes"
        if answer in ("n", "no"):
            return "no"
        if answer in ("s", "skip", ""):
            return "skip"


@task(name="manual")
def manual(c):
    """V1-V4 manual (operator): the checks only a person can do; y/n/skip each, journalled."""
    session = session_mod.current(getattr(c, "config", None))
    items = session.settings.checks.manual
    from .cockpit import manual_answers

    previous = manual_answers(session.journal.records())
    interactive = sys.stdin.isatty() and not session.dry
    out = session.out
    if not items:
        print("no manual checks configured (checks.manual)", file=out)
        return {}
    answers = {}
    for number, item in enumerate(items, 1):
        last = previous.get(item)
        state = f"{last['answer']} at {last['time'][:16]}" if last else "pending"
        print(f"[{number}/{len(items)}] {item}  ({state})", file=out, flush=True)
        if not interactive:
            continue
        answer = _ask(item)
        head = item.split()[0]
        session.journal.write("manual", task=f"{NS}.manual", step=head if head[:1] == "V" and head[1:].isdigit() else None, item=item, answer=answer, detail=item)
        answers[item] = answer
    if not interactive:
        print("(not a terminal: listed only; run `fab phase4.manual` in a terminal to confirm them)", file=out)
    refused = [item for item, answer in answers.items() if answer == "no"]
    if refused:
        raise Exit(f"manual checks answered no: {'; '.join(refused)}", code=1)
    return answers
