"""The check clients (fabfile/checks.py) against small servers started here on 127.0.0.1.

The servers speak just enough HTTP, POP3 (with an APOP timestamp), SMTP and
DNS to tell a working service from a broken one; they share one mail store,
so a message sent over SMTP can be fetched over POP like on the real host.
"""

import hashlib
import http.server
import socket
import socketserver
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from fabfile import checks as ck

LOCAL = "127.0.0.1"


def serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


class TCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


# -- HTTP ---------------------------------------------------------------------------------

class Web(http.server.BaseHTTPRequestHandler):
    hosts_seen = []

    def do_GET(self):
        Web.hosts_seen.append(self.headers.get("Host"))
        if self.path == "/broken":
            self.send_response(500)
            self.end_headers()
            return
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "http://elsewhere/")
            self.end_headers()
            return
        body = b"<h1>itpass web on new</h1>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web():
    server = serve(TCP((LOCAL, 0), Web))
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


def test_http_check_sends_the_urls_host_to_the_address(web):
    r = ck.http_check(f"http://itpass.example:{web}/", LOCAL, "itpass web on new", host="new")
    assert r.ok and r.verdict == "OK"
    assert "200" in r.seen and "marker found" in r.seen
    assert Web.hosts_seen[-1] == f"itpass.example:{web}"


def test_http_check_fails_on_missing_marker_or_error_status(web):
    r = ck.http_check(f"http://itpass.example:{web}/", LOCAL, "some other site")
    assert not r.ok and "does not contain 'some other site'" in r.reason
    r = ck.http_check(f"http://itpass.example:{web}/broken", LOCAL)
    assert not r.ok and r.seen.startswith("500") and "status 500" in r.reason
    r = ck.http_check(f"http://itpass.example:{web}/moved", LOCAL)
    assert r.ok and "-> http://elsewhere/" in r.seen


def test_http_check_on_a_closed_port_says_refused():
    r = ck.http_check(f"http://itpass.example:{free_port()}/", LOCAL, "x", timeout=2)
    assert not r.ok and "connection refused" in r.reason


def test_http_refused_is_ok_only_when_nothing_serves(web):
    assert ck.http_refused(f"http://itpass.example:{free_port()}/", LOCAL).ok
    r = ck.http_refused(f"http://itpass.example:{web}/", LOCAL)
    assert not r.ok and "still serves" in r.reason and "HTTP 200" in r.reason


def test_only_http_urls_are_checked():
    r = ck.http_check("ftp://itpass.example/", LOCAL)
    assert not r.ok and "only http:// and https://" in r.reason


def test_port_closed(web):
    assert ck.port_closed(LOCAL, free_port(), what="pop3").ok
    r = ck.port_closed(LOCAL, web, what="pop3")
    assert not r.ok and "pop3 is still open" in r.reason


# -- mail: one store, SMTP in, POP out ----------------------------------------------------

class Store:
    def __init__(self):
        self.secrets = {"yasuda": "apop-yasuda"}
        self.boxes = {"yasuda": [b"From: a\r\nSubject: old\r\n\r\nold message"], "morikawa": []}
        self.domains = {"itpass.example", "epa.example"}
        self.lists = {"itpass-ml": ["yasuda", "morikawa"]}
        self.apop = True
        self.lock = threading.Lock()


STORE = Store()


class Line(socketserver.StreamRequestHandler):
    def say(self, text):
        self.wfile.write(text.encode() + b"\r\n")

    def lines(self):
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            yield raw.decode().rstrip("\r\n")


class Pop(Line):
    def handle(self):
        stamp = "<1234.5678@test>"
        self.say("+OK ready " + stamp if STORE.apop else "+OK ready")
        user = box = None
        deleted = set()
        for line in self.lines():
            cmd, *args = line.split()
            cmd = cmd.upper()
            if cmd == "USER":
                user = args[0]
                self.say("+OK")
            elif cmd == "PASS":
                ok = STORE.secrets.get(user) == line[5:]
                box = STORE.boxes[user] if ok else None
                self.say("+OK" if ok else "-ERR [AUTH] bad password")
            elif cmd == "APOP":
                user, digest = args
                ok = user in STORE.secrets and hashlib.md5((stamp + STORE.secrets[user]).encode()).hexdigest() == digest
                box = STORE.boxes[user] if ok else None
                self.say("+OK" if ok else "-ERR [AUTH] bad digest")
            elif cmd == "STAT":
                live = [m for i, m in enumerate(box) if i not in deleted]
                self.say(f"+OK {len(live)} {sum(map(len, live))}")
            elif cmd == "LIST":
                self.say("+OK")
                for i, m in enumerate(box):
                    if i not in deleted:
                        self.say(f"{i + 1} {len(m)}")
                self.say(".")
            elif cmd in ("TOP", "RETR"):
                message = box[int(args[0]) - 1]
                if cmd == "TOP":
                    message = message.split(b"\r\n\r\n", 1)[0] + b"\r\n"
                self.say("+OK")
                self.wfile.write(message.rstrip(b"\r\n") + b"\r\n.\r\n")
            elif cmd == "DELE":
                deleted.add(int(args[0]) - 1)
                self.say("+OK")
            elif cmd == "QUIT":
                with STORE.lock:
                    if box is not None:
                        box[:] = [m for i, m in enumerate(box) if i not in deleted]
                self.say("+OK bye")
                return
            else:
                self.say("-ERR unknown")


class Smtp(Line):
    def handle(self):
        self.say("220 test ESMTP")
        rcpts = []
        for line in self.lines():
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.say("250 test")
            elif verb == "MAIL":
                rcpts = []
                self.say("250 ok")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip().strip("<>")
                local, _, domain = address.partition("@")
                if domain in STORE.domains:
                    rcpts.append(local)
                    self.say("250 ok")
                else:
                    self.say("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")
            elif verb == "DATA":
                self.say("354 go ahead")
                body = []
                for data in self.lines():
                    if data == ".":
                        break
                    body.append(data[1:] if data.startswith("..") else data)
                message = "\r\n".join(body).encode()
                with STORE.lock:
                    for local in rcpts:
                        for member in STORE.lists.get(local, [local]):
                            STORE.boxes.setdefault(member, []).append(message)
                self.say("250 ok queued")
            elif verb in ("RSET", "NOOP"):
                self.say("250 ok")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 unimplemented")


@pytest.fixture(scope="module")
def mail():
    pop = serve(TCP((LOCAL, 0), Pop))
    smtp = serve(TCP((LOCAL, 0), Smtp))
    yield pop.server_address[1], smtp.server_address[1]
    for server in (pop, smtp):
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def apop_on():
    STORE.apop = True
    yield


def test_pop_check_logs_in_with_apop_and_lists(mail):
    pop, _ = mail
    r = ck.pop_check(LOCAL, "yasuda", "apop-yasuda", "apop", port=pop, host="new")
    assert r.ok, r.reason
    assert r.seen.startswith("logged in (APOP), 1 message(s)")
    assert "apop-yasuda" not in (r.seen + r.expected + r.reason)


def test_pop_check_falls_back_to_user_pass_without_a_stamp(mail):
    pop, _ = mail
    STORE.apop = False
    r = ck.pop_check(LOCAL, "yasuda", "apop-yasuda", "apop", port=pop)
    assert r.ok and "USER/PASS (no APOP stamp in banner)" in r.seen
    r = ck.pop_check(LOCAL, "yasuda", "apop-yasuda", "user", port=pop)
    assert r.ok and "(USER/PASS)" in r.seen


def test_pop_check_wrong_secret_and_no_server(mail):
    pop, _ = mail
    r = ck.pop_check(LOCAL, "yasuda", "wrong", "apop", port=pop)
    assert not r.ok and "refused" in r.reason and "wrong" not in r.reason
    r = ck.pop_check(LOCAL, "yasuda", "apop-yasuda", "apop", port=free_port(), timeout=2)
    assert not r.ok and "no POP server" in r.reason and "connection refused" in r.reason


def test_smtp_accepts_and_refuses_by_domain(mail):
    _, smtp = mail
    assert ck.smtp_accepts(LOCAL, "yasuda@itpass.example", "x@itpass.example", port=smtp).ok
    r = ck.smtp_accepts(LOCAL, "yasuda@cps.example", "x@itpass.example", port=smtp)
    assert not r.ok and r.seen.startswith("553") and "rcpthosts" in r.reason
    assert ck.smtp_refuses_rcpt(LOCAL, "yasuda@cps.example", "x@itpass.example", port=smtp).ok
    r = ck.smtp_refuses_rcpt(LOCAL, "yasuda@itpass.example", "x@itpass.example", port=smtp)
    assert not r.ok and "still accepts mail" in r.reason


def test_smtp_refuses_rcpt_fails_when_nothing_answers():
    r = ck.smtp_refuses_rcpt(LOCAL, "yasuda@itpass.example", port=free_port(), timeout=2)
    assert not r.ok and "no SMTP server" in r.reason


def test_mail_roundtrip_finds_and_deletes_its_message(mail):
    pop, smtp = mail
    before = len(STORE.boxes["yasuda"])
    r = ck.mail_roundtrip(LOCAL, LOCAL, "yasuda", "apop-yasuda", "apop", "itpass.example", wait=5, smtp_port=smtp, pop_port=pop, interval=0.1)
    assert r.ok, r.reason
    assert r.seen.startswith("arrived after")
    assert len(STORE.boxes["yasuda"]) == before   # the test message is gone again


def test_mail_roundtrip_times_out_with_a_reason(mail):
    pop, smtp = mail
    STORE.domains.add("lost.example")              # accepted, but nobody's mailbox
    try:
        r = ck.mail_roundtrip(LOCAL, LOCAL, "nobody", "x", "apop", "lost.example", wait=0.5, smtp_port=smtp, pop_port=pop, interval=0.1)
    finally:
        STORE.domains.discard("lost.example")
    assert not r.ok and "did not reach nobody's mailbox in 0.5s" in r.reason and "POP refused" in r.reason


def test_mail_roundtrip_unsendable(mail):
    pop, smtp = mail
    r = ck.mail_roundtrip(LOCAL, LOCAL, "yasuda", "apop-yasuda", "apop", "cps.example", wait=1, smtp_port=smtp, pop_port=pop)
    assert not r.ok and r.seen.startswith("not sent") and "did not take the test message" in r.reason


def test_list_delivery_reaches_the_member(mail):
    pop, smtp = mail
    r = ck.list_delivery(LOCAL, "itpass-ml@itpass.example", "yasuda@itpass.example", pop_address=LOCAL, member_secret="apop-yasuda",
                         wait=5, smtp_port=smtp, pop_port=pop, interval=0.1)
    assert r.ok and r.verdict == "OK", r.reason


def test_list_delivery_without_a_password_is_manual(mail):
    _, smtp = mail
    r = ck.list_delivery(LOCAL, "itpass-ml@itpass.example", "morikawa@itpass.example", smtp_port=smtp)
    assert r.ok and r.verdict == "MANUAL" and "morikawa@itpass.example's mailbox" in r.seen


# -- DNS ----------------------------------------------------------------------------------------

ZONE = {"itpass.example.": "198.18.0.22", "old-itpass.example.": "198.18.0.21"}


class Dns(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        name = str(query.question[0].name)
        if name in ZONE:
            response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", ZONE[name]))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(response.to_wire(), self.client_address)


@pytest.fixture(scope="module")
def dns_server():
    server = serve(socketserver.ThreadingUDPServer((LOCAL, 0), Dns))
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_dns_check_compares_the_answer(dns_server):
    assert ck.dns_check(LOCAL, "itpass.example", "198.18.0.22", port=dns_server).ok
    r = ck.dns_check(LOCAL, "old-itpass.example", "198.18.0.22", port=dns_server, host="old")
    assert not r.ok and r.seen == "198.18.0.21" and "expected 198.18.0.22" in r.reason
    r = ck.dns_check(LOCAL, "new-itpass.example", "198.18.0.22", port=dns_server)
    assert not r.ok and r.seen == "NXDOMAIN"


def test_dns_check_without_a_server_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:   # bound, never answers
        silent.bind((LOCAL, 0))
        r = ck.dns_check(LOCAL, "itpass.example", "198.18.0.22", timeout=0.5, port=silent.getsockname()[1])
    assert not r.ok and "did not answer" in r.reason


# -- the table ----------------------------------------------------------------------------------

def test_table_has_one_row_per_check_and_a_verdict():
    rows = [ck.Check("V1 http", "new", "200", "200 OK", True), ck.Check("V5 smtp", "old", "5xx", "250 ok", False, "still accepts"),
            ck.skipped("V2 pop", "new", "checks.pop_user is empty")]
    text = ck.table(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["check", "host", "expected", "seen", "result"]
    assert any(line.startswith("V5 smtp") and line.endswith("FAIL") for line in lines)
    assert any(line.startswith("V2 pop") and line.endswith("SKIP") for line in lines)
    assert "V5 smtp (old): still accepts" in text
    assert text.endswith("3 check(s), 1 FAIL")


def test_list_delivery_with_a_refused_login_fails(mail):
    pop, smtp = mail
    r = ck.list_delivery(LOCAL, "itpass-ml@itpass.example", "yasuda@itpass.example", pop_address=LOCAL, member_secret="wrong",
                         wait=0.5, smtp_port=smtp, pop_port=pop, interval=0.1)
    assert not r.ok and "POP refused" in r.reason
