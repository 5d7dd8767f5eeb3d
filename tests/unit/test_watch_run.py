"""The watcher end to end against a small site on loopback (127.0.0.22 = the site, 127.0.0.21 = the other host).

The site speaks HTTP, DNS (on both addresses), POP3 with APOP and SMTP
into one mail store; a test switches HTTP to 503 or SMTP to "421 try
later" for a moment and reads what the watcher saw. Timestamps are
compared with the test's own clock around the switch, to the resolution
of the probe schedule: that is the measurement being right, not a speed.
"""

import dataclasses
import hashlib
import http.server
import io
import json
import socketserver
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from invoke import Context

from fabfile import session as session_mod
from fabfile import settings as settings_mod
from fabfile import watch_tasks
from fabfile.settings import Identity
from fabfile.watch import WatchConfig, WatchError, probes, start_watch, watching

ROOT = Path(__file__).resolve().parents[2]
SITE, OTHER = "127.0.0.22", "127.0.0.21"
D = "scitec.kobe-u.ac.jp"
SECRET = "apop-yasuda-secret"


class State:
    def __init__(self):
        self.http_down = self.smtp_down = False
        self.box: list[str] = []
        self.zone = {f"itpass.{D}.": SITE, f"new-itpass.{D}.": OTHER, f"ika-itpass.{D}.": OTHER}
        self.lock = threading.Lock()


STATE = State()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Web(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<h1>itpass web on new</h1>"
        self.send_response(503 if STATE.http_down else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Lines(socketserver.StreamRequestHandler):
    def say(self, text):
        self.wfile.write(text.encode() + b"\r\n")

    def lines(self):
        while raw := self.rfile.readline():
            yield raw.decode().rstrip("\r\n")


class Pop(Lines):
    def handle(self):
        stamp = "<42.1@site>"
        self.say(f"+OK ready {stamp}")
        box, deleted = None, set()
        for line in self.lines():
            cmd, *args = line.split()
            if cmd == "APOP":
                ok = args == ["yasuda", hashlib.md5((stamp + SECRET).encode()).hexdigest()]
                box = list(STATE.box) if ok else None
                self.say("+OK" if ok else "-ERR [AUTH] bad digest")
            elif cmd == "STAT":
                self.say(f"+OK {len(box)} {sum(map(len, box))}")
            elif cmd == "LIST":
                self.say("+OK")
                for i, m in enumerate(box, 1):
                    self.say(f"{i} {len(m)}")
                self.say(".")
            elif cmd in ("TOP", "RETR"):
                self.say("+OK")
                self.wfile.write(box[int(args[0]) - 1].split("\r\n\r\n", 1)[0].encode() + b"\r\n\r\n.\r\n")
            elif cmd == "DELE":
                deleted.add(box[int(args[0]) - 1])
                self.say("+OK")
            elif cmd == "QUIT":
                with STATE.lock:
                    STATE.box[:] = [m for m in STATE.box if m not in deleted]
                self.say("+OK bye")
                return


class Smtp(Lines):
    def handle(self):
        if STATE.smtp_down:
            self.say("421 site: try again later")
            return
        self.say("220 site ESMTP")
        for line in self.lines():
            verb = line.split(" ", 1)[0].upper()
            if verb == "DATA":
                self.say("354 go ahead")
                body = []
                for data in self.lines():
                    if data == ".":
                        break
                    body.append(data[1:] if data.startswith("..") else data)
                with STATE.lock:
                    STATE.box.append("\r\n".join(body))
                self.say("250 ok queued")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("250 ok")


class Dns(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        name, kind = str(query.question[0].name), query.question[0].rdtype
        if name not in STATE.zone:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif kind == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", STATE.zone[name]))
        sock.sendto(response.to_wire(), self.client_address)


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def site():
    servers = [serve(Server((SITE, 0), handler)) for handler in (Web, Pop, Smtp)]
    udp = serve(socketserver.ThreadingUDPServer((SITE, 0), Dns))
    port = udp.server_address[1]
    servers += [udp, serve(socketserver.ThreadingUDPServer((OTHER, port), Dns))]
    yield dict(zip(("http", "pop", "smtp"), (server.server_address[1] for server in servers)), dns=port)
    for server in servers:
        server.shutdown()
        server.server_close()


def ident(host, ip):
    return Identity(host, f"{host}.{D}", ip)


def site_settings(tmp_path, ports, **checks):
    s = settings_mod.load(ROOT / "lab" / "hosts.toml")
    s = s.with_hosts(old=dict(before=ident("itpass", SITE), after=ident("old-itpass", OTHER), address=SITE, address_after=OTHER),
                     new=dict(before=ident("ika-itpass", OTHER), after=ident("itpass", SITE), address=OTHER, address_after=SITE))
    values = dict(http_urls=(f"http://itpass.{D}:{ports['http']}/",), http_marker="itpass web", pop_password=SECRET,
                  dns={f"itpass.{D}": SITE, f"old-itpass.{D}": OTHER, f"new-itpass.{D}": SITE}, timeout=2) | checks
    return s.replace(operator={"journal": str(tmp_path / "journal.jsonl")}, checks=values)


def config(ports, **kw):
    return WatchConfig(**(dict(rate=10, timeout=1, mail_every=0.15, first_retry=0.1, max_retry=0.4, drain_seconds=5,
                               ports={k: ports[k] for k in ("dns", "pop", "smtp")}) | kw))


def clock():
    return datetime.now(timezone.utc)


def lines_of(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_the_watcher_sees_a_web_and_a_mail_outage_and_every_message_lands_once(site, tmp_path):
    s = site_settings(tmp_path, site)
    STATE.box.clear()
    with watching(s, s.operator.journal, config(site)) as w:
        time.sleep(1.0)
        http_off, STATE.http_down = clock(), True
        time.sleep(0.6)
        http_on, STATE.http_down = clock(), False
        time.sleep(0.4)
        smtp_off, STATE.smtp_down = clock(), True
        time.sleep(0.8)
        smtp_on, STATE.smtp_down = clock(), False
        time.sleep(1.0)
    view = w.users_view(wait=5, pop_address=SITE)
    by = {row["service"]: row for row in view["services"]}
    assert list(by) == ["http", "dns", "pop", "smtp"]
    assert by["dns"]["outages"] == [] and by["pop"]["outages"] == []
    slack = 1 / 10 + 0.25       # one probe interval and the probe's own time
    for service, off, on in (("http", http_off, http_on), ("smtp", smtp_off, smtp_on)):
        [(start, end, _)] = by[service]["outages"]
        assert off.timestamp() - slack <= datetime.fromisoformat(start).timestamp() <= off.timestamp() + slack, service
        assert on.timestamp() - slack <= datetime.fromisoformat(end).timestamp() <= on.timestamp() + slack + 0.4, service
    mail = view["mail"]
    assert mail["sent"] >= 10
    assert view["ledger"] == f"mail ledger: sent {mail['sent']}, delivered {mail['sent']}, lost 0, duplicated 0"
    records = lines_of(w.path)
    retried = {r["tag"] for r in records if r.get("attempt", 0) > 1}
    refused = [r for r in records if r.get("outcome") == "refused"]
    assert retried and refused and all(r["detail"].startswith("421") for r in refused)


def test_the_file_holds_no_secret_no_body_and_only_listed_addresses(site, tmp_path):
    s = site_settings(tmp_path, site)
    with watching(s, s.operator.journal, config(site, seconds=1.0)) as w:
        w.wait()
    text = w.path.read_text()
    assert SECRET not in text and "Tag: " not in text and "A test message" not in text
    records = lines_of(w.path)
    start, stop = records[0], records[-1]
    assert start["event"] == "start" and stop["event"] == "stop" and stop["why"] == "--for reached"
    assert set(stop["probes"]) == {"http", "dns", "pop", "smtp"} and stop["cpu_seconds"] > 0
    probes_ = records[1:-1]
    assert {r["address"] for r in probes_} <= {SITE, OTHER}
    http = [r for r in probes_ if r["service"] == "http"]
    assert http and {r["via"] for r in http} == {f"dns {SITE}"}        # the public name, asked of the site's DNS


def test_a_url_outside_hosts_toml_is_refused_before_any_probe(site, tmp_path):
    s = site_settings(tmp_path, site, http_urls=("http://127.0.0.99/",))
    with pytest.raises(WatchError, match="127.0.0.99"):
        start_watch(s, s.operator.journal, config=config(site))
    assert not (tmp_path / "journal.jsonl.watch.jsonl").exists()


def test_a_dns_answer_outside_hosts_toml_is_ignored(site, tmp_path):
    s = site_settings(tmp_path, site)
    STATE.zone[f"rogue.{D}."] = "127.0.0.99"
    try:
        resolver = probes.SiteResolver(s, s.operator.journal, port=site["dns"])
        assert resolver.resolve(f"rogue.{D}", mx=False) == ("", "")
        assert resolver.resolve(f"itpass.{D}", mx=True) == (SITE, f"dns {SITE}")    # no MX: the domain's A, as an MTA does
    finally:
        del STATE.zone[f"rogue.{D}."]
    assert resolver.ignored == 2


def test_fab_watch_for_a_while_prints_the_outages_and_the_ledger(site, tmp_path, monkeypatch):
    s = site_settings(tmp_path, site)
    real = watch_tasks._config       # the task's own flags, plus the test site's ports
    monkeypatch.setattr(watch_tasks, "_config", lambda *a: dataclasses.replace(real(*a), ports=config(site).ports))
    out = io.StringIO()
    session_mod.set_current(session_mod.Session(s, out=out))
    try:
        view = watch_tasks.watch(Context(), for_=1.5, rate=8, mail_every=0.2)
    finally:
        session_mod.set_current(None)
    text = out.getvalue()
    assert "watching 9 target(s)" in text and "stopped: --for reached" in text
    assert f"mail ledger: sent {view['mail']['sent']}, delivered {view['mail']['sent']}, lost 0, duplicated 0" in text
    assert SECRET not in text
    start = lines_of(tmp_path / "journal.jsonl.watch.jsonl")[0]
    assert start["config"]["rate"] == 8 and start["config"]["seconds"] == 1.5 and start["config"]["mail_every"] == 0.2


def test_the_mailbox_is_read_over_pop_and_the_runs_own_messages_deleted_on_request(site, tmp_path):
    from fabfile.checks import send_tagged
    from fabfile.watch import read_mailbox_pop
    from fabfile.watch.ledger import attempt_tag, message_tag, tags_in

    STATE.box.clear()
    mine, other = attempt_tag(message_tag("0123abcd", 1), 1), attempt_tag(message_tag("ffff0000", 1), 1)
    for tag in (mine, other, "serverswap-20091023T090000-deadbeef"):
        send_tagged(SITE, f"yasuda@itpass.{D}", f"yasuda@itpass.{D}", tag, port=site["smtp"])
    read = read_mailbox_pop(SITE, "yasuda", SECRET, port=site["pop"], delete_run="0123abcd")
    assert tags_in(read) == [mine, other, "serverswap-20091023T090000-deadbeef"]
    assert tags_in(read_mailbox_pop(SITE, "yasuda", SECRET, port=site["pop"])) == [other, "serverswap-20091023T090000-deadbeef"]


def test_an_address_outside_hosts_toml_is_never_probed(site, tmp_path, monkeypatch):
    from fabfile.watch.runner import Watcher

    s = site_settings(tmp_path, site)
    w = Watcher(s, s.operator.journal, config(site))
    monkeypatch.setattr(w.resolver, "lookup", lambda name, mx=False: ("127.0.0.99", "dns rogue"))
    lane = next(lane for lane in w.lanes if lane.target.service == "pop")
    monkeypatch.setattr(lane, "probe", lambda *a: pytest.fail("probed an address hosts.toml does not list"))
    record = lane.once()
    assert record["ok"] is False and record["detail"].startswith("refused: 127.0.0.99 is not an address of old or new")


def test_watch_settings_defaults_section_then_flags(tmp_path):
    from types import SimpleNamespace

    assert WatchConfig.from_settings(SimpleNamespace()) == WatchConfig()
    section = SimpleNamespace(rate=8, http_marker="", max_messages=50)
    c = WatchConfig.from_settings(SimpleNamespace(watch=section), rate=None, max_messages=20, http_marker=None)
    assert (c.rate, c.max_messages, c.http_marker) == (8, 20, None)      # "" in the section: checks.http_marker
    for bad in (dict(rate=0), dict(rate=51), dict(seconds=-1)):
        with pytest.raises(WatchError):
            WatchConfig(**bad).check()
    assert WatchConfig(seconds=10).limit() == 10 and WatchConfig(seconds=10 ** 9).limit() == WatchConfig().max_seconds
