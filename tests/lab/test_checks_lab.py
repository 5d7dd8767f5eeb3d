"""phase4's checks on the lab: each passes on a good lab and fails, with a clear reason, on a lab broken on purpose.

The lab here is the seeded one (before the swap), so each test first puts
the lab in the state the check expects (what S2/S4/D4/N1 would do, from
outside through lab.api.exec), checks, breaks one thing on purpose, checks
again, and puts it back. Values that only hold after the swap (V2's user,
V6's addresses) are overridden with their pre-swap equivalents.
"""

import io
import posixpath

import pytest
from invoke import Context
from invoke.exceptions import Exit
from steprun import eventually, service, settings, sh, wait_booted

from fabfile import phase4
from fabfile import session as session_mod

pytestmark = pytest.mark.lab

CTL = "/var/qmail/control"
SITE = "scitec.kobe-u.ac.jp"
NEW_POP = {"pop_user": "itpadmin", "pop_password": "apop-itpadmin-new"}    # new's own pop.auth before C7
PRE_SWAP_DNS = {f"itpass.{SITE}": "198.18.0.22", f"new-itpass.{SITE}": "198.18.0.21", f"ika-itpass.{SITE}": "198.18.0.21"}


@pytest.fixture(scope="module")
def seeded(lab):
    lab.reset()
    wait_booted("old", "new", "backup")
    return lab


class Outcome:
    def __init__(self, session, out, error):
        self.session, self.output, self.error = session, out, error

    @property
    def checks(self):
        return [r for r in self.session.journal.records() if r["event"] == "check"]

    def failed(self):
        return [r for r in self.checks if not r["ok"]]


def check(task, tmp_path, dry=False, **checks_overrides):
    """Run one phase4 task in-process with the lab's hosts file; keep its journal and output."""
    out = io.StringIO()
    s = settings(tmp_path / "journal.jsonl", checks=dict({"mail_wait": 20, "timeout": 5}, **checks_overrides))
    session = session_mod.Session(s, dry=dry, out=out, assume_yes=True)
    session_mod.set_current(session)
    error = None
    try:
        task(Context())
    except Exit as exc:
        error = exc.message
    finally:
        session.close()
        session_mod.set_current(None)
    return Outcome(session, out.getvalue(), error)


def port_state(host_ip, port):
    import socket

    try:
        socket.create_connection((host_ip, port), timeout=1).close()
        return "open"
    except OSError:
        return "closed"


def test_v1_http_on_new(seeded, tmp_path):
    good = check(phase4.check_http, tmp_path / "a")
    assert good.error is None and good.checks[0]["ok"], good.output
    assert "marker found" in good.checks[0]["seen"]
    service("new", "apache2", "stop")
    try:
        assert eventually(lambda: port_state("198.18.0.21", 80) == "closed")
        bad = check(phase4.check_http, tmp_path / "b")
        assert bad.error and "V1 failed" in bad.error
        assert "no HTTP answer from 198.18.0.21: connection refused" in bad.failed()[0]["detail"]
        assert "FAIL" in bad.output
    finally:
        service("new", "apache2", "start")
    marker = check(phase4.check_http, tmp_path / "c", http_marker="itpass web on old")
    assert "does not contain 'itpass web on old'" in marker.failed()[0]["detail"]


def test_v2_pop_on_new(seeded, tmp_path):
    good = check(phase4.check_pop, tmp_path / "a", **NEW_POP)
    assert good.error is None, good.output
    assert good.checks[0]["seen"].startswith("logged in (APOP)")
    assert "apop-itpadmin-new" not in good.output + open(good.session.journal.path).read()
    wrong = check(phase4.check_pop, tmp_path / "b", pop_user="itpadmin", pop_password="not-the-secret")
    assert "POP login of itpadmin at 198.18.0.21 refused" in wrong.failed()[0]["detail"]
    service("new", "openbsd-inetd", "stop")
    try:
        assert eventually(lambda: port_state("198.18.0.21", 110) == "closed")
        down = check(phase4.check_pop, tmp_path / "c", **NEW_POP)
        assert "no POP server at 198.18.0.21:110: connection refused" in down.failed()[0]["detail"]
    finally:
        service("new", "openbsd-inetd", "start")


def test_v3_smtp_on_new_follows_rcpthosts(seeded, tmp_path):
    # as seeded, new's rcpthosts lacks the last site domain (N1 adds it): V3 names it
    seeded_lab = check(phase4.check_smtp, tmp_path / "a", **NEW_POP)
    assert [r["check"] for r in seeded_lab.failed()] == [f"V3 smtp rcpt itpadmin@cps.{SITE}"]
    assert "refuses mail for itpadmin@cps" in seeded_lab.failed()[0]["detail"] and "rcpthosts" in seeded_lab.failed()[0]["detail"]
    backup = sh("new", f"cat {CTL}/rcpthosts")
    try:
        sh("new", f"echo cps.{SITE} >> {CTL}/rcpthosts")
        good = check(phase4.check_smtp, tmp_path / "b", **NEW_POP)
        assert good.error is None, good.output
        roundtrip = [r for r in good.checks if r["check"] == "V3 mail roundtrip"][0]
        assert roundtrip["ok"] and roundtrip["seen"].startswith("arrived after")
        assert "serverswap-" not in sh("new", "cat /home/itpadmin/Mailbox 2>/dev/null || true")   # found and deleted
        service("new", "qmail", "stop")                     # accepted, never delivered
        lost = check(phase4.check_smtp, tmp_path / "c", mail_wait=4, **NEW_POP)
        assert "did not reach itpadmin's mailbox in 4s" in lost.failed()[0]["detail"]
    finally:
        sh("new", f"printf '%s' '{backup}' > {CTL}/rcpthosts")
        service("new", "qmail", "start")
        sh("new", "rm -f /var/qmail/queue/new/* /home/itpadmin/Mailbox", check=False)


def test_v4_list_message_reaches_a_member(seeded, tmp_path):
    member = f"itpadmin@itpass.{SITE}"
    subscribers = "/home/itpass/ml/subscribers"
    sh("new", f"cp -a {subscribers} {subscribers}.test && echo {member} >> {subscribers}")
    try:
        good = check(phase4.check_list, tmp_path / "a", list_member=member, list_member_password="apop-itpadmin-new")
        assert good.error is None, good.output
        assert good.checks[0]["seen"].startswith("arrived after")
        manual = check(phase4.check_list, tmp_path / "b", list_member=member, list_member_password="")
        assert manual.error is None and manual.checks[0]["kind"] == "manual" and "MANUAL" in manual.output
        sh("new", f"cp -a {subscribers}.test {subscribers}")       # the member left the list
        gone = check(phase4.check_list, tmp_path / "c", list_member=member, list_member_password="apop-itpadmin-new", mail_wait=5)
        assert "did not reach itpadmin@itpass" in gone.failed()[0]["detail"]
    finally:
        sh("new", f"mv {subscribers}.test {subscribers}; rm -f /home/itpadmin/Mailbox", check=False)


def test_v5_old_is_closed(seeded, tmp_path):
    rcpthosts = sh("old", f"cat {CTL}/rcpthosts")
    service("old", "apache2", "stop")
    service("old", "openbsd-inetd", "stop")
    sh("old", f"echo localhost > {CTL}/rcpthosts")
    try:
        assert eventually(lambda: port_state("198.18.0.22", 80) == port_state("198.18.0.22", 110) == "closed")
        good = check(phase4.check_old_closed, tmp_path / "a")
        assert good.error is None, good.output
        assert {r["seen"] for r in good.checks if "http" in r["check"] or "pop" in r["check"]} == {"connection refused"}
        sh("old", f"printf '%s' '{rcpthosts}' > {CTL}/rcpthosts")         # rcpthosts as before D4
        accepting = check(phase4.check_old_closed, tmp_path / "b")
        assert accepting.error and "still accepts mail" in accepting.failed()[0]["detail"] and "(D4)" in accepting.failed()[0]["detail"]
        sh("old", f"echo localhost > {CTL}/rcpthosts")
        service("old", "apache2", "start")
        serving = check(phase4.check_old_closed, tmp_path / "c")
        assert [r["check"] for r in serving.failed()] == ["V5 http off http://198.18.0.22/"]
        assert "still serves" in serving.failed()[0]["detail"]
    finally:
        sh("old", f"printf '%s' '{rcpthosts}' > {CTL}/rcpthosts")
        service("old", "apache2", "start")
        service("old", "openbsd-inetd", "start")


def test_v6_dns_asks_both_servers(seeded, tmp_path):
    assert eventually(lambda: sh("old", "dig +short +time=1 @127.0.0.1 itpass.scitec.kobe-u.ac.jp A", check=False).strip(), 30)
    good = check(phase4.check_dns, tmp_path / "a", dns=PRE_SWAP_DNS)
    assert good.error is None, good.output
    assert sorted({r["host"] for r in good.checks}) == ["new", "old"] and len(good.checks) == 6
    cfg = settings(tmp_path / "j")     # the profile's zone file and BIND service (seed: bind, modern: bind9)
    zone, bind = posixpath.join(cfg.ttl.zone_dir, cfg.ttl.zone_files[0]), cfg.bind.service
    sh("new", f"cp -a {zone} /root/zone.test && sed -i 's/^new-itpass\\tIN\\tA\\t.*/new-itpass\\tIN\\tA\\t198.18.0.99/' {zone}")
    try:
        service("new", bind, "restart")
        assert eventually(lambda: "198.18.0.99" in sh("new", f"dig +short +time=1 @127.0.0.1 new-itpass.{SITE}", check=False), 30)
        bad = check(phase4.check_dns, tmp_path / "b", dns=PRE_SWAP_DNS)
        assert [(r["host"], r["check"]) for r in bad.failed()] == [("new", f"V6 dns new-itpass.{SITE}")]
        assert f"198.18.0.21 says new-itpass.{SITE} is 198.18.0.99, expected 198.18.0.21" in bad.failed()[0]["detail"]
        service("new", bind, "stop")
        down = check(phase4.check_dns, tmp_path / "c", dns=PRE_SWAP_DNS, timeout=2)
        assert all("did not answer" in r["detail"] for r in down.failed()) and {r["host"] for r in down.failed()} == {"new"}
    finally:
        sh("new", f"mv /root/zone.test {zone}")
        service("new", bind, "start")


def test_b1_backup_scripts(seeded, tmp_path):
    good = check(phase4.check_backup, tmp_path / "a")
    assert good.error is None, good.output
    assert len(good.checks) == 2 and all(r["seen"].startswith("exit 0") for r in good.checks)
    assert "rsync finished successfully" in good.output
    assert sh("backup", "ls /home/kobe/mirror") == ""                   # -n: nothing copied
    data = "/home/kobe/data/itpass_rsync_epa2dennou"
    sh("backup", f"chmod 000 {data}")
    try:
        bad = check(phase4.check_backup, tmp_path / "b")
        assert bad.error and "B1 failed" in bad.error
        failed = bad.failed()
        assert [r["check"] for r in failed] == ["B1 backup itpass_rsync_epa2dennou.sh"]
        assert "the script exited 23" in failed[0]["detail"]
    finally:
        sh("backup", f"chmod 755 {data}")
