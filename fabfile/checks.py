"""Protocol clients for the final checks (V1-V6): real conversations, no output parsing.

Each function talks to one service the way a user's client would (HTTP,
POP3 with APOP, SMTP, DNS) and returns a `Check`: what was expected, what
was seen, ok or not, and a one-line reason when not. None of them raises
for a service that is down: a refused connection is a result, and for V5 it
is the good one. Nothing here imports Fabric; the addresses come from the
caller (hosts.toml and the journal's swap state), never from this module.

A check never prints a secret: the POP password goes to the server only.
"""

from __future__ import annotations

import http.client
import poplib
import re
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

TAG_HEADER = "X-Serverswap-Check"
BODY_LIMIT = 1 << 20          # bytes of a page searched for the marker
APOP_STAMP = re.compile(r"<[^<>@\s]+@[^<>\s]+>")


@dataclass
class Check:
    """One check's outcome, one row of the checks table."""

    name: str
    host: str
    expected: str
    seen: str
    ok: bool
    reason: str = ""
    step: str = ""
    kind: str = ""      # "" (a real check), "skip" (not configured), "manual" (only a person can see it)

    @property
    def verdict(self) -> str:
        if self.kind == "skip":
            return "SKIP"
        if self.kind == "manual":
            return "MANUAL"
        return "OK" if self.ok else "FAIL"

    def as_dict(self) -> dict:
        return asdict(self)


def skipped(name: str, host: str, why: str, step: str = "") -> Check:
    return Check(name, host, "-", f"skipped: {why}", True, "", step, "skip")


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if not isinstance(exc, OSError) else text


# -- HTTP (V1, V5) ------------------------------------------------------------

class _HTTPSAt(http.client.HTTPSConnection):
    """HTTPS to an address while checking the certificate against the URL's name."""

    def __init__(self, address, port, server_name, timeout):
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def _http_get(url: str, address: str, timeout: float):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http:// and https:// URLs can be checked")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        conn = _HTTPSAt(address, port, parts.hostname, timeout)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "serverswap-check", "Connection": "close"})
        response = conn.getresponse()
        body = response.read(BODY_LIMIT)
        return response.status, response.reason, response.getheader("Location"), body
    finally:
        conn.close()


def http_check(url: str, address: str, marker: str = "", timeout: float = 10, *, host: str = "", name: str = "V1 http") -> Check:
    """GET `url` from `address` (with the URL's Host header): 2xx/3xx, and `marker` in the page if given."""
    expected = f"{url} answers 2xx" + (f" with {marker!r}" if marker else "/3xx")
    label = f"{name} {url}"
    try:
        status, reason, location, body = _http_get(url, address, timeout)
    except ValueError as exc:
        return Check(label, host, expected, "not checked", False, str(exc))
    except (OSError, http.client.HTTPException) as exc:
        return Check(label, host, expected, _why(exc), False, f"no HTTP answer from {address}: {_why(exc)}")
    seen = f"{status} {reason}" + (f" -> {location}" if location else "")
    if marker:
        found = marker.encode() in body
        seen += ", marker found" if found else ", marker missing"
        if not 200 <= status < 300:
            return Check(label, host, expected, seen, False, f"status {status}, the marker needs a 2xx page")
        if not found:
            return Check(label, host, expected, seen, False, f"the page at {address} does not contain {marker!r}")
        return Check(label, host, expected, seen, True)
    if 200 <= status < 400:
        return Check(label, host, expected, seen, True)
    return Check(label, host, expected, seen, False, f"status {status} {reason}")


def port_closed(address: str, port: int, timeout: float = 5, *, host: str = "", name: str = "V5 closed", what: str = "") -> Check:
    """Nothing accepts a TCP connection at address:port (refused or no answer)."""
    what = what or f"port {port}"
    expected = f"{what} refused"
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        return Check(name, host, expected, "connection refused", True)
    except (socket.timeout, TimeoutError):
        return Check(name, host, expected, f"no answer in {timeout:g}s", True)
    except OSError as exc:
        return Check(name, host, expected, _why(exc), True)
    sock.close()
    return Check(name, host, expected, f"{address}:{port} accepts connections", False, f"{what} is still open on {address}:{port}; stop the service")


def http_refused(url: str, address: str, timeout: float = 5, *, host: str = "", name: str = "V5 http off") -> Check:
    """V5: the site must not be served from `address` any more: refused, or no HTTP answer."""
    label = f"{name} {url}"
    expected = "refused / no answer"
    try:
        status, reason, _, _ = _http_get(url, address, timeout)
    except ValueError as exc:
        return Check(label, host, expected, "not checked", False, str(exc))
    except ConnectionRefusedError:
        return Check(label, host, expected, "connection refused", True)
    except (OSError, http.client.HTTPException) as exc:
        return Check(label, host, expected, _why(exc), True)
    return Check(label, host, expected, f"{status} {reason}", False, f"{address} still serves {url} (HTTP {status}); stop the web server (S2/D3)")


# -- POP3 (V2) -------------------------------------------------------------------

def _pop_login(address: str, user: str, secret: str, method: str, timeout: float, port: int):
    """An authenticated POP3 session and the method used (APOP when offered and asked for)."""
    pop = poplib.POP3(address, port, timeout=timeout)
    try:
        banner = pop.getwelcome().decode("utf-8", "replace")
        if method == "apop" and APOP_STAMP.search(banner):
            pop.apop(user, secret)
            used = "APOP"
        else:
            pop.user(user)
            pop.pass_(secret)
            used = "USER/PASS" + (" (no APOP stamp in banner)" if method == "apop" else "")
    except BaseException:
        try:
            pop.close()
        except Exception:
            pass
        raise
    return pop, used


def pop_check(address: str, user: str, secret: str, method: str = "apop", timeout: float = 10, *, port: int = poplib.POP3_PORT, host: str = "", name: str = "V2 pop") -> Check:
    """V2: log in as `user` (APOP when the banner offers a timestamp and method is apop) and list the mailbox."""
    expected = f"{user} logs in ({method.upper() if method == 'apop' else 'USER/PASS'}), mailbox listed"
    try:
        pop, used = _pop_login(address, user, secret, method, timeout, port)
    except poplib.error_proto as exc:
        text = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return Check(name, host, expected, f"refused: {text[:80]}", False, f"POP login of {user} at {address} refused ({text[:80]}); check the password (popauth, C7)")
    except OSError as exc:
        return Check(name, host, expected, _why(exc), False, f"no POP server at {address}:{port}: {_why(exc)}")
    try:
        count, size = pop.stat()
        listing = pop.list()[1]
        pop.quit()
    except (poplib.error_proto, OSError) as exc:
        return Check(name, host, expected, f"logged in ({used})", False, f"listing the mailbox failed: {_why(exc)}")
    return Check(name, host, expected, f"logged in ({used}), {count} message(s), {size} bytes", len(listing) == count, "" if len(listing) == count else "LIST and STAT disagree")


def pop_find(address: str, user: str, secret: str, method: str, tag: str, timeout: float = 10, *, port: int = poplib.POP3_PORT, delete: bool = True) -> bool:
    """True when a message carrying `tag` is in the mailbox; it is deleted then (the check's own message)."""
    pop, _ = _pop_login(address, user, secret, method, timeout, port)
    try:
        count, _ = pop.stat()
        needle = tag.encode()
        for number in range(count, 0, -1):   # newest last: search from the end
            try:
                lines = pop.top(number, 0)[1]
            except poplib.error_proto:
                lines = pop.retr(number)[1]
            if any(needle in line for line in lines):
                if delete:
                    pop.dele(number)
                return True
        return False
    finally:
        try:
            pop.quit()
        except (poplib.error_proto, OSError):
            pass


# -- SMTP (V3, V4, V5) -----------------------------------------------------------

def _smtp_rcpt(address: str, rcpt: str, sender: str, timeout: float, port: int) -> tuple[int, str]:
    with smtplib.SMTP(address, port, timeout=timeout) as smtp:
        code, _ = smtp.ehlo()
        if not 200 <= code < 300:
            smtp.helo()
        code, text = smtp.mail(sender)
        if code >= 400:
            return code, f"MAIL FROM refused: {text.decode('utf-8', 'replace')}"
        code, text = smtp.rcpt(rcpt)
        smtp.rset()
        return code, text.decode("utf-8", "replace")


def smtp_accepts(address: str, rcpt: str, sender: str = "", timeout: float = 10, *, port: int = smtplib.SMTP_PORT, host: str = "", name: str = "V3 smtp") -> Check:
    """The SMTP server at `address` accepts RCPT TO `rcpt` (250/251); no message is sent."""
    label = f"{name} rcpt {rcpt}"
    expected = "RCPT accepted (250)"
    try:
        code, text = _smtp_rcpt(address, rcpt, sender, timeout, port)
    except (OSError, smtplib.SMTPException) as exc:
        return Check(label, host, expected, _why(exc), False, f"no SMTP conversation with {address}:{port}: {_why(exc)}")
    seen = f"{code} {text[:60]}".strip()
    if code in (250, 251):
        return Check(label, host, expected, seen, True)
    return Check(label, host, expected, seen, False, f"{address} refuses mail for {rcpt}; check rcpthosts/locals (N1)")


def smtp_refuses_rcpt(address: str, rcpt: str, sender: str = "", timeout: float = 10, *, port: int = smtplib.SMTP_PORT, host: str = "", name: str = "V5 smtp") -> Check:
    """V5: the SMTP server at `address` answers but refuses RCPT TO `rcpt` (5xx)."""
    label = f"{name} rcpt {rcpt}"
    expected = "SMTP answers, RCPT refused (5xx)"
    try:
        code, text = _smtp_rcpt(address, rcpt, sender, timeout, port)
    except (OSError, smtplib.SMTPException) as exc:
        return Check(label, host, expected, _why(exc), False, f"no SMTP server at {address}:{port} ({_why(exc)}); old should run qmail again and refuse (D4)")
    seen = f"{code} {text[:60]}".strip()
    if 500 <= code < 600:
        return Check(label, host, expected, seen, True)
    return Check(label, host, expected, seen, False, f"{address} still accepts mail for {rcpt}; rcpthosts should be just localhost (D4)")


def new_tag() -> str:
    return f"serverswap-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def send_tagged(address: str, sender: str, rcpt: str, tag: str, timeout: float = 10, *, port: int = smtplib.SMTP_PORT, purpose: str = "check") -> None:
    """Send one small message carrying `tag` (Subject, header and body) through the server at `address`."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = rcpt
    msg["Subject"] = f"serverswap {purpose} {tag}"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(tag)
    msg[TAG_HEADER] = tag
    msg.set_content(f"A test message of the server swap ({purpose}).\nTag: {tag}\nIt may be deleted.\n")
    with smtplib.SMTP(address, port, timeout=timeout) as smtp:
        smtp.send_message(msg, from_addr=sender, to_addrs=[rcpt])


def wait_for(find, wait: float, interval: float = 1.0) -> float | None:
    """Call `find()` until it is true or `wait` seconds passed; the seconds it took, or None.

    The pause between tries starts short (a local delivery takes well under a
    second) and doubles up to `interval`, so a quick delivery is seen quickly
    and a slow one is not polled hard.
    """
    start = time.monotonic()
    pause = min(0.1, interval)
    while True:
        if find():
            return round(time.monotonic() - start, 1)
        if time.monotonic() - start >= wait:
            return None
        time.sleep(pause)
        pause = min(pause * 2, interval)


def mail_roundtrip(smtp_address: str, pop_address: str, user: str, secret: str, method: str, mail_domain: str, *,
                   wait: float = 60, timeout: float = 10, sender: str = "", host: str = "", name: str = "V3 mail roundtrip",
                   smtp_port: int = smtplib.SMTP_PORT, pop_port: int = poplib.POP3_PORT, interval: float = 1.0) -> Check:
    """V3: a tagged message to user@mail_domain through new's SMTP arrives in the POP mailbox (then deleted)."""
    rcpt = f"{user}@{mail_domain}"
    sender = sender or rcpt
    tag = new_tag()
    expected = f"message to {rcpt} arrives within {wait:g}s"
    try:
        send_tagged(smtp_address, sender, rcpt, tag, timeout, port=smtp_port, purpose="mail check")
    except (OSError, smtplib.SMTPException) as exc:
        return Check(name, host, expected, f"not sent: {_why(exc)}", False, f"{smtp_address} did not take the test message: {_why(exc)}")
    return _await(name, host, expected, lambda: pop_find(pop_address, user, secret, method, tag, timeout, port=pop_port), wait, interval, f"{user}'s mailbox", tag)


def _await(name, host, expected, find, wait, interval, where, tag) -> Check:
    problem = ""

    def attempt():
        nonlocal problem
        try:
            return find()
        except poplib.error_proto as exc:
            problem = f"POP refused: {exc.args[0].decode('utf-8', 'replace') if exc.args and isinstance(exc.args[0], bytes) else exc}"
        except OSError as exc:
            problem = f"POP: {_why(exc)}"
        return False

    took = wait_for(attempt, wait, interval)
    if took is not None:
        return Check(name, host, expected, f"arrived after {took:g}s", True)
    return Check(name, host, expected, "not arrived", False, f"message {tag} did not reach {where} in {wait:g}s" + (f" ({problem})" if problem else ""))


def list_delivery(smtp_address: str, list_address: str, member: str, *, pop_address: str = "", member_secret: str = "",
                  method: str = "apop", wait: float = 60, timeout: float = 10, host: str = "", name: str = "V4 mailing list",
                  smtp_port: int = smtplib.SMTP_PORT, pop_port: int = poplib.POP3_PORT, interval: float = 1.0) -> Check:
    """V4: a message from `member` to the list is accepted and reaches the member's mailbox.

    Without a POP password for the member the delivery cannot be seen from
    here: the check reports the message as sent and the reading as manual.
    """
    tag = new_tag()
    expected = f"list message reaches {member}"
    try:
        send_tagged(smtp_address, member, list_address, tag, timeout, port=smtp_port, purpose="list check")
    except (OSError, smtplib.SMTPException) as exc:
        return Check(name, host, expected, f"not sent: {_why(exc)}", False, f"{smtp_address} did not take the message to {list_address}: {_why(exc)}")
    if not (pop_address and member_secret):
        return Check(name, host, expected, f"sent ({tag}); look in {member}'s mailbox", True, "no POP password configured for the list member: confirm by hand", kind="manual")
    user = member.split("@", 1)[0]
    return _await(name, host, expected, lambda: pop_find(pop_address, user, member_secret, method, tag, timeout, port=pop_port), wait, interval, f"{member}'s mailbox", tag)


# -- DNS (V6) ------------------------------------------------------------------------

def dns_check(server_address: str, name: str, expected: str, timeout: float = 5, *, port: int = 53, host: str = "", label: str = "V6 dns") -> Check:
    """Ask the server at `server_address` directly for `name` A; the answer must be exactly `expected`."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    title = f"{label} {name}"
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        response, _ = dns.query.udp_with_fallback(query, server_address, timeout=timeout, port=port)
    except dns.exception.Timeout:
        return Check(title, host, expected, "no answer", False, f"the DNS server at {server_address} did not answer in {timeout:g}s; is named running?")
    except (OSError, dns.exception.DNSException) as exc:
        return Check(title, host, expected, _why(exc), False, f"asking {server_address} failed: {_why(exc)}")
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return Check(title, host, expected, dns.rcode.to_text(rcode), False, f"{server_address} answers {dns.rcode.to_text(rcode)} for {name}; check the zone (C8)")
    addresses = sorted({rr.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset})
    seen = ", ".join(addresses) or "no A record"
    if not response.flags & dns.flags.AA:
        seen += " (not authoritative)"
    if addresses == [expected]:
        return Check(title, host, expected, seen, True)
    return Check(title, host, expected, seen, False, f"{server_address} says {name} is {', '.join(addresses) or 'nothing'}, expected {expected}; fix the zone and bump the serial")


# -- the table -------------------------------------------------------------------------

def table(results: list[Check]) -> str:
    """The checks as one plain-text table: check, host, expected, seen, OK/FAIL (+ reasons below)."""
    rows = [("check", "host", "expected", "seen", "result")]
    for r in results:
        rows.append((r.name, r.host, r.expected, r.seen, r.verdict))
    widths = [min(max(len(row[i]) for row in rows), 60) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell if len(cell) <= widths[i] or i == 4 else cell[: widths[i] - 1] + "…" for i, cell in enumerate(row)]
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    reasons = [f"  {r.name} ({r.host}): {r.reason}" for r in results if r.reason]
    if reasons:
        lines.append("")
        lines.extend(reasons)
    failed = sum(r.verdict == "FAIL" for r in results)
    lines.append("")
    lines.append(f"{len(results)} check(s), {failed} FAIL" if failed else f"{len(results)} check(s), all OK")
    return "\n".join(lines)


def soa(server_address: str, zone: str, timeout: float = 5, *, port: int = 53) -> tuple[int, int] | None:
    """(serial, TTL) of `zone`'s SOA as the server answers it (authoritative), or None when it does not."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rdatatype

    query = dns.message.make_query(zone.rstrip(".") + ".", dns.rdatatype.SOA)
    try:
        response, _ = dns.query.udp_with_fallback(query, server_address, timeout=timeout, port=port)
    except (OSError, dns.exception.DNSException):
        return None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and response.flags & dns.flags.AA:
            return rrset[0].serial, rrset.ttl
    return None
