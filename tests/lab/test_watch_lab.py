"""The watcher against the seeded lab: the site (old at 198.18.0.22 before the swap) seen the way its users see it.

One watcher run (about 10 s) while the test stops apache2 on old for about
3 s: the outage table must show that one http outage, where the test's own
clock put it, and no other service out; the tagged messages it sent
(N >= 20) must each be in yasuda's mailbox exactly once, read over POP by
the watcher and counted again here with grep inside old. A second run
stops old's SMTP (tcpserver) for a moment: the messages refused meanwhile
are retried and still land once each.
"""

import re
import socket
import time
from datetime import datetime, timezone

import pytest
from steprun import eventually, service, settings, sh

from fabfile.watch import WatchConfig, summary_lines, watching
from fabfile.watch.ledger import letters
from fabfile.watch.outages import parse_lines

pytestmark = pytest.mark.lab

SITE_IP = "198.18.0.22"
RATE, TIMEOUT = 5.0, 1.0
SLACK = 1 / RATE + TIMEOUT + 0.5     # where a probe falls relative to the change: one interval, one probe's time, a margin


def now() -> float:
    return datetime.now(timezone.utc).timestamp()


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def port_open(port: int) -> bool:
    try:
        socket.create_connection((SITE_IP, port), timeout=1).close()
        return True
    except OSError:
        return False


def watch_while(tmp_path, action, seconds: float = 10.0):
    """Run the watcher for `seconds` with `action()` in the middle; its users' view, its records, action's times."""
    s = settings(tmp_path / "journal.jsonl", checks={"http_marker": "itpass web on old"})   # before the swap the site is old
    config = WatchConfig(rate=RATE, timeout=TIMEOUT, mail_every=0.3, first_retry=0.5, max_retry=2.0)
    start = time.monotonic()
    with watching(s, s.operator.journal, config) as w:
        time.sleep(2.5)
        times = action()
        time.sleep(max(0.0, seconds - (time.monotonic() - start)))
    view = w.users_view(wait=30)
    print(f"\nwatch run {w.run}: {w.path.read_text().splitlines()[-1]}\n" + "\n".join(summary_lines(view)))
    return view, w, times


def apache_off_3s():
    off0 = now()
    service("old", "apache2", "stop")
    assert eventually(lambda: not port_open(80), 10), "apache2 on old did not stop"
    off1 = now()
    time.sleep(3)
    on0 = now()
    service("old", "apache2", "start")
    assert eventually(lambda: port_open(80), 20), "apache2 on old did not start again"
    return off0, off1, on0, now()


@pytest.fixture(scope="module")
def apache_run(fresh, tmp_path_factory):
    return watch_while(tmp_path_factory.mktemp("watch"), apache_off_3s)


def rows(view):
    return {row["service"]: row for row in view["services"]}


def test_one_http_outage_of_about_the_stop_and_no_other_service_out(apache_run):
    view, _, (off0, off1, on0, on1) = apache_run
    by = rows(view)
    assert list(by) == ["http", "dns", "pop", "smtp"]
    assert [len(by[s]["outages"]) for s in ("dns", "pop", "smtp")] == [0, 0, 0], view["services"]
    [(start, end, seconds)] = by["http"]["outages"]
    assert off0 - SLACK <= ts(start) <= off1 + SLACK
    assert on0 - SLACK <= ts(end) <= on1 + SLACK
    assert (on0 - off1) - 2 * SLACK <= seconds <= (on1 - off0) + 2 * SLACK
    assert by["http"]["probes"] >= 10 and view["open"] == []


def messages_in_old_mailbox(run: str) -> list[str]:
    """The message tag of each copy of this run's messages in yasuda's mailbox on old, read inside old (no POP)."""
    text = sh("old", f"grep '^X-Serverswap-Check: ssw-{run}-' /home/yasuda/Mailbox || true")
    return [re.sub(r"-a\d+$", "", line.split(": ", 1)[1].strip()) for line in text.splitlines()]


def accepted(w) -> set[str]:
    return {tag for tag, letter in letters(parse_lines(w.path.read_text().splitlines())).items() if letter.accepted}


def test_every_message_sent_is_in_the_mailbox_exactly_once(apache_run):
    view, w, _ = apache_run
    mail = view["mail"]
    assert mail["sent"] >= 20, mail
    assert view["ledger"] == f"mail ledger: sent {mail['sent']}, delivered {mail['sent']}, lost 0, duplicated 0"
    found = messages_in_old_mailbox(w.run)
    assert sorted(found) == sorted(accepted(w)) and len(found) == mail["sent"]       # each once, none missing


def test_smtp_refused_for_a_while_messages_retried_and_delivered_once(fresh, tmp_path):
    def tcpserver_off():
        service("old", "tcpserver", "stop")
        assert eventually(lambda: not port_open(25), 10), "tcpserver on old did not stop"
        time.sleep(2)
        service("old", "tcpserver", "start")
        assert eventually(lambda: port_open(25), 10), "tcpserver on old did not start again"

    view, w, _ = watch_while(tmp_path, tcpserver_off, seconds=9.0)
    by = rows(view)
    assert len(by["smtp"]["outages"]) == 1 and by["http"]["outages"] == [] and by["pop"]["outages"] == []
    records = parse_lines(w.path.read_text().splitlines())
    retried = {r["tag"] for r in records if r.get("attempt", 0) > 1 and r.get("outcome") == "accepted"}
    assert retried, "no message was retried after the refusal"
    mail = view["mail"]
    assert view["ledger"] == f"mail ledger: sent {mail['sent']}, delivered {mail['sent']}, lost 0, duplicated 0"
    assert sorted(messages_in_old_mailbox(w.run)) == sorted(accepted(w)) and mail["sent"] == len(accepted(w))
