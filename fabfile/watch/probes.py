"""One probe of each service, the way a user's client asks, through fabfile.checks' protocol clients.

http (checks.http_check: GET at an address with the URL's Host header,
the marker in the page), pop (checks.pop_check: an APOP login and a
listing), smtp (checks.send_tagged: a tagged message; checks.smtp_accepts:
a RCPT-only session between messages). DNS is asked with dnspython, the
library checks.dns_check uses; the watcher needs the answer itself (its
rcode and addresses), since over the night a right answer is the name's
address before the swap or after it, where dns_check wants one address.

Each probe returns (ok, detail, extra fields for its line). A detail
never holds a secret or a message body: POP's reason names the user and
the server's words, SMTP's the server's reply code and words.
"""

from __future__ import annotations

import errno
import smtplib
import socket
import threading
import time
from dataclasses import dataclass

from .. import checks as ck
from ..journal import Journal
from . import ledger, sites

UNREACHABLE = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


@dataclass(frozen=True)
class Answer:
    rcode: str
    records: tuple[str, ...]      # A: addresses; MX: exchanges, lowest preference first
    authoritative: bool


def ask(server: str, name: str, rdtype: str = "A", timeout: float = 1.0, port: int = 53) -> Answer:
    """One question to one DNS server, directly (raises OSError or dns.exception.DNSException on no answer)."""
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    kind = dns.rdatatype.from_text(rdtype)
    response, _ = dns.query.udp_with_fallback(dns.message.make_query(name, kind), server, timeout=timeout, port=port)
    found = [rr for rrset in response.answer if rrset.rdtype == kind for rr in rrset]
    if kind == dns.rdatatype.MX:
        records = tuple(str(rr.exchange).rstrip(".").lower() for rr in sorted(found, key=lambda rr: rr.preference))
    else:
        records = tuple(sorted({rr.address for rr in found}))
    return Answer(dns.rcode.to_text(response.rcode()), records, bool(response.flags & dns.flags.AA))


def judge_dns(answer: Answer, allowed: frozenset[str], may_be_absent: bool) -> tuple[bool, str]:
    """Is this answer one a user could use: an authoritative answer naming only the name's right addresses?"""
    seen = ", ".join(answer.records) or ("NXDOMAIN" if answer.rcode == "NXDOMAIN" else "no A record")
    if answer.rcode not in ("NOERROR", "NXDOMAIN"):
        return False, f"answers {answer.rcode}"
    if not answer.authoritative:
        return False, f"{seen} (not authoritative)"
    wrong = [a for a in answer.records if a not in allowed]
    if wrong:
        return False, f"{seen}: {', '.join(wrong)} is not the name's address before or after the swap"
    if not answer.records and not may_be_absent:
        return False, f"{seen}: the name must have an address"
    return True, seen


# -- the site's addresses, as users' resolvers give them -------------------------------------

class SiteResolver:
    """The address of each public name, asked of the site's DNS servers every `refresh` seconds.

    Runs in a thread of its own so that no probe waits on DNS. A name keeps
    its last good answer while no server answers (a user's resolver keeps
    its cached answer for the TTL); before any answer it is the address
    hosts.toml gives the role that serves the name. Answers naming an
    address hosts.toml does not list are ignored (and counted).
    """

    def __init__(self, settings, journal_path, *, timeout: float = 0.5, refresh: float = 1.0, port: int = 53):
        self.settings, self.journal_path = settings, journal_path
        self.timeout, self.refresh, self.port = timeout, refresh, port
        self.listed = sites.listed_addresses(settings)
        self.servers = sites.dns_servers(settings)
        self.ignored = 0
        self._cache: dict[tuple[str, bool], tuple[str, str]] = {}
        self._lock = threading.Lock()

    def want(self, name: str, mx: bool = False) -> None:
        with self._lock:
            self._cache.setdefault((name, mx), ("", ""))

    def lookup(self, name: str, mx: bool = False) -> tuple[str, str]:
        """(address, where it came from): "dns SERVER", or "hosts.toml" (no answer yet); ("", why) if none."""
        with self._lock:
            address, source = self._cache.get((name, mx), ("", ""))
        if address:
            return address, source
        swapped = Journal(self.journal_path).swapped(self.settings.by_role("new").alias)
        fallback = sites.fallback_address(self.settings, name, swapped)
        if fallback:
            return fallback, "hosts.toml"
        return "", f"no address for {name}: no DNS answer in hosts.toml's addresses, and hosts.toml names none"

    def _a(self, server: str, name: str) -> str:
        answer = ask(server, name, "A", self.timeout, self.port)
        good = [a for a in answer.records if a in self.listed]
        if answer.records and not good:
            self.ignored += 1
        return good[0] if good else ""

    def resolve(self, name: str, mx: bool) -> tuple[str, str]:
        """Ask each server in turn (MX first for a mail domain, as an MTA does); ("", "") if none gives a usable answer."""
        for server in self.servers:
            try:
                host = name
                if mx:
                    exchanges = ask(server, name, "MX", self.timeout, self.port).records
                    host = exchanges[0] if exchanges else name
                address = self._a(server, host)
            except Exception:   # noqa: BLE001 - dns.exception.*, OSError: this server gave no answer
                continue
            if address:
                return address, f"dns {server}"
        return "", ""

    def refresh_all(self) -> None:
        with self._lock:
            wanted = list(self._cache)
        for name, mx in wanted:
            address, source = self.resolve(name, mx)
            if address:
                with self._lock:
                    self._cache[(name, mx)] = (address, source)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh):
            self.refresh_all()


# -- http, pop, dns ----------------------------------------------------------------------------

def http_probe(target: sites.Target, address: str, marker: str, timeout: float) -> tuple[bool, str, dict]:
    c = ck.http_check(target.url, address, marker, timeout)
    return c.ok, c.reason or c.seen, {}


def pop_probe(address: str, cfg, timeout: float, port: int) -> tuple[bool, str, dict]:
    c = ck.pop_check(address, cfg.pop_user, cfg.pop_password, cfg.pop_method, timeout, port=port)
    return c.ok, c.seen if c.ok else c.reason, {}


def dns_probe(target: sites.Target, expectation, timeout: float, port: int) -> tuple[bool, str, dict]:
    import dns.exception

    try:
        answer = ask(target.address, target.qname, "A", timeout, port)
    except dns.exception.Timeout:
        return False, "no answer", {}
    except (OSError, dns.exception.DNSException) as exc:
        return False, ck._why(exc), {}
    ok, detail = judge_dns(answer, *expectation)
    return ok, detail, {}


# -- smtp: a sender that queues and retries like an MTA ------------------------------------------

@dataclass
class Queued:
    tag: str
    first: float            # when the message was written (monotonic seconds)
    attempts: int = 0
    due: float = 0.0


class Outbox:
    """The watcher's own mail queue, as a real MTA keeps one.

    A new message every `every` seconds, at most `limit` in all. An attempt
    that does not end in a 250 puts the message back with a back-off that
    doubles from `first_retry` up to `max_retry` seconds; after
    `give_up_after` seconds of trying it is given up (a bounce). A message
    due again goes before a new one. Time is given by the caller.
    """

    def __init__(self, run: str, *, every: float, limit: int, first_retry: float, max_retry: float, give_up_after: float):
        self.run, self.every, self.limit = run, every, limit
        self.first_retry, self.max_retry, self.give_up_after = first_retry, max_retry, give_up_after
        self.queue: list[Queued] = []
        self.created = 0
        self._next_new: float | None = None

    def take(self, now: float, new: bool = True) -> Queued | None:
        """The message to try now (checked out of the queue), or None: then the probe is a RCPT-only session."""
        due = [q for q in self.queue if q.due <= now]
        if due:
            chosen = min(due, key=lambda q: (q.due, q.first))
            self.queue.remove(chosen)
            return chosen
        if new and self.created < self.limit and (self._next_new is None or now >= self._next_new):
            self.created += 1
            self._next_new = now + self.every
            return Queued(ledger.message_tag(self.run, self.created), first=now)
        return None

    def settle(self, message: Queued, accepted: bool, now: float) -> bool:
        """After an attempt: done if accepted, else queued again with its back-off; True when given up."""
        if accepted:
            return False
        if now - message.first >= self.give_up_after:
            return True
        message.due = now + min(self.first_retry * 2 ** max(message.attempts - 1, 0), self.max_retry)
        self.queue.append(message)
        return False

    def waiting(self) -> list[str]:
        return [q.tag for q in self.queue]


def smtp_attempt(address: str, sender: str, rcpt: str, tag: str, timeout: float, port: int) -> tuple[str, str]:
    """Send one tagged message: ("accepted" | "refused" | "deferred" | "unknown", what the server said).

    refused: the server answered 4xx/5xx (connect, MAIL, RCPT, DATA);
    deferred: no connection (refused, unreachable); unknown: the session
    broke off (timeout, disconnect): the sender cannot tell whether the
    message was taken, and sends it again, as an MTA does.
    """
    try:
        ck.send_tagged(address, sender, rcpt, tag, timeout, port=port, purpose="watch")
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return "refused", f"RCPT {code} {text.decode('utf-8', 'replace')[:80]}"
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return "refused", f"{exc.smtp_code} {text[:80]}"
    except (socket.timeout, TimeoutError, smtplib.SMTPServerDisconnected) as exc:
        return "unknown", ck._why(exc)
    except OSError as exc:
        return ("deferred" if exc.errno in UNREACHABLE else "unknown"), ck._why(exc)
    except smtplib.SMTPException as exc:
        return "unknown", ck._why(exc)
    return "accepted", "250 accepted"


class SmtpProber:
    """Each probe is one SMTP session: a message due (new or retried) when there is one, else RCPT only."""

    def __init__(self, settings, outbox: Outbox, timeout: float, port: int):
        cfg = settings.checks
        self.rcpt = f"{cfg.pop_user}@{cfg.mail_domain}"
        self.sender = self.rcpt
        self.outbox, self.timeout, self.port = outbox, timeout, port

    def probe(self, address: str, now: float, draining: bool = False) -> tuple[bool, str, dict] | None:
        """One session; None when draining and nothing is due."""
        message = self.outbox.take(now, new=not draining)
        if message is None:
            if draining:
                return None
            c = ck.smtp_accepts(address, self.rcpt, self.sender, self.timeout, port=self.port)
            return c.ok, c.seen if c.ok else c.reason, {"kind": "rcpt"}
        message.attempts += 1
        outcome, detail = smtp_attempt(address, self.sender, self.rcpt, ledger.attempt_tag(message.tag, message.attempts),
                                       self.timeout, self.port)
        gave_up = self.outbox.settle(message, outcome == "accepted", time.monotonic())
        extra = {"kind": "message", "tag": message.tag, "attempt": message.attempts, "outcome": outcome, "rcpt": self.rcpt}
        return outcome == "accepted", detail, extra | ({"gave_up": True} if gave_up else {})
