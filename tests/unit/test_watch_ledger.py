"""The mail ledger: each accepted message found exactly once in the right mailbox, by tag.

Mailboxes are written by Python's own `mailbox.mbox` (the standard
library's owner of the format: From_ lines, >From quoting) from messages
built with `email`, as checks.send_tagged builds them.
"""

import mailbox
import re
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from fabfile.watch import ledger, users_view
from fabfile.watch.ledger import TAG_HEADER, attempt_tag, message_tag

RUN = "0123abcd"
RCPT = "yasuda@itpass.scitec.kobe-u.ac.jp"
LINE = re.compile(r"^mail ledger: sent (\d+), delivered (\d+), lost (\d+), duplicated (\d+)$")


def tag(seq, attempt=1, run=RUN):
    return attempt_tag(message_tag(run, seq), attempt)


def message(tag_value, body="A test message of the server swap (watch).\nFrom the watcher, with a From_ line in the body.\n"):
    msg = EmailMessage()
    msg["From"] = RCPT
    msg["To"] = RCPT
    msg["Subject"] = f"serverswap watch {tag_value}"
    msg[TAG_HEADER] = tag_value
    msg.set_content(body + f"Tag: {tag_value}\n")
    return msg


def mbox_text(tmp_path, tags, name="Mailbox", extra=()):
    path = tmp_path / name
    path.unlink(missing_ok=True)
    box = mailbox.mbox(str(path))
    for msg in list(extra) + [message(t) for t in tags]:
        box.add(msg)
    box.flush()
    box.close()
    return path.read_text()


def attempts(seq, *outcomes, gave_up=False):
    """The probe lines of message `seq`: one per attempt with its outcome."""
    lines = []
    for n, outcome in enumerate(outcomes, 1):
        lines.append({"time": f"2009-10-23T09:00:{seq % 60:02d}.{n:03d}+00:00", "watch": RUN, "service": "smtp", "target": RCPT,
                      "address": "198.18.0.22", "ok": outcome == "accepted", "latency": 0.01, "detail": outcome,
                      "kind": "message",
                      "tag": message_tag(RUN, seq), "attempt": n, "outcome": outcome, "rcpt": RCPT})
    if gave_up:
        lines[-1]["gave_up"] = True
    return lines


def test_tags_are_read_from_headers_only_and_from_lines_in_bodies_do_not_split(tmp_path):
    text = mbox_text(tmp_path, [tag(1), tag(2)], extra=[message("serverswap-20091023T090000-deadbeef")])
    assert ">From the watcher" in text                              # mbox quoted the body's From_ line
    assert ledger.tags_in(text) == ["serverswap-20091023T090000-deadbeef", tag(1), tag(2)]
    assert len(ledger.mbox_messages(text)) == 3


def test_the_labs_qmail_mbox_and_a_single_message_are_read_too():
    lab_style = (f"From {RCPT} Fri Oct 23 09:00:00 2009\nDelivered-To: {RCPT}\n{TAG_HEADER}: {tag(1)}\nSubject: x\n\nbody\n\n"
                 f"From {RCPT} Fri Oct 23 09:00:01 2009\n{TAG_HEADER}: {tag(2)}\n\nbody\n\n")
    assert ledger.tags_in(lab_style) == [tag(1), tag(2)]
    assert ledger.tags_in(f"{TAG_HEADER}: {tag(3)}\nSubject: y\n\nbody\n") == [tag(3)]
    assert ledger.tags_in("") == []


def test_all_delivered_gives_the_exact_line(tmp_path):
    lines = [line for seq in (1, 2, 3) for line in attempts(seq, "accepted")]
    book = ledger.reconcile(lines, {"yasuda": mbox_text(tmp_path, [tag(1), tag(2), tag(3)])}, RUN)
    assert book.line == "mail ledger: sent 3, delivered 3, lost 0, duplicated 0"
    assert book.delivered == [message_tag(RUN, s) for s in (1, 2, 3)]


def test_a_message_missing_is_lost_by_tag(tmp_path):
    lines = attempts(1, "accepted") + attempts(2, "accepted")
    book = ledger.reconcile(lines, mbox_text(tmp_path, [tag(1)]), RUN)
    assert book.line == "mail ledger: sent 2, delivered 1, lost 1, duplicated 0"
    assert book.lost == [{"tag": message_tag(RUN, 2), "why": "not in yasuda mailbox on new"}]


def test_a_message_in_another_mailbox_is_lost_from_the_right_one(tmp_path):
    lines = attempts(1, "accepted")
    book = ledger.reconcile(lines, {"yasuda": mbox_text(tmp_path, []), "morikawa": mbox_text(tmp_path, [tag(1)], "m")}, RUN)
    assert book.line.endswith("lost 1, duplicated 0") and "found in morikawa's mailbox instead" in book.lost[0]["why"]


def test_one_attempt_delivered_twice_is_a_duplicate_of_the_servers_doing(tmp_path):
    book = ledger.reconcile(attempts(1, "accepted"), mbox_text(tmp_path, [tag(1), tag(1)]), RUN)
    assert book.line == "mail ledger: sent 1, delivered 0, lost 0, duplicated 1"
    assert book.duplicated[0]["copies"] == 2 and "the server or a carried queue duplicated it" in book.duplicated[0]["why"]


def test_a_lost_250_then_a_resend_both_arriving_is_a_duplicate_with_its_cause(tmp_path):
    # attempt 1: the server took the message but the sender never saw the 250 (timeout); attempt 2: accepted.
    lines = attempts(1, "unknown", "accepted")
    book = ledger.reconcile(lines, mbox_text(tmp_path, [tag(1, 1), tag(1, 2)]), RUN)
    assert book.line == "mail ledger: sent 1, delivered 0, lost 0, duplicated 1"
    assert book.duplicated[0]["why"].startswith("re-sent after attempt 1 ended without an answer (its 250 was lost)")


def test_a_resent_message_arriving_once_is_delivered_whichever_attempt(tmp_path):
    lines = attempts(1, "unknown", "accepted") + attempts(2, "deferred", "refused", "accepted")
    for found in ([tag(1, 1), tag(2, 3)], [tag(1, 2), tag(2, 3)]):
        book = ledger.reconcile(lines, mbox_text(tmp_path, found), RUN)
        assert book.line == "mail ledger: sent 2, delivered 2, lost 0, duplicated 0"


def test_messages_never_accepted_are_not_sent(tmp_path):
    lines = attempts(1, "deferred", "refused", gave_up=True) + attempts(2, "unknown") + attempts(3, "accepted")
    book = ledger.reconcile(lines, mbox_text(tmp_path, [tag(2, 1), tag(3)]), RUN)
    assert book.line == "mail ledger: sent 1, delivered 1, lost 0, duplicated 0"
    assert book.gave_up == [message_tag(RUN, 1)] and book.pending == [message_tag(RUN, 2)]
    assert book.unconfirmed == [message_tag(RUN, 2)]     # its 250 was lost and the run ended before a retry


def test_other_runs_and_other_tags_are_ignored_this_runs_strays_listed(tmp_path):
    found = [tag(1), tag(1, run="ffff0000"), "serverswap-20091023T090000-deadbeef", tag(9)]
    book = ledger.reconcile(attempts(1, "accepted"), mbox_text(tmp_path, found), RUN)
    assert book.line == "mail ledger: sent 1, delivered 1, lost 0, duplicated 0"
    assert book.unknown == [message_tag(RUN, 9)]


def test_users_view_has_the_report_slots_shape(tmp_path):
    lines = attempts(1, "refused", "accepted") + [{"time": "2009-10-23T09:00:00.000+00:00", "watch": RUN, "service": "http",
                                                  "target": "http://itpass/", "ok": True, "latency": 0.01, "detail": ""}]
    view = users_view(lines, {"yasuda": mbox_text(tmp_path, [tag(1, 2)])})
    assert view["ledger"] == "mail ledger: sent 1, delivered 1, lost 0, duplicated 0"
    assert [set(s) for s in view["services"]] == [{"service", "outages", "total", "probes"}] * 2
    smtp = [s for s in view["services"] if s["service"] == "smtp"][0]
    assert smtp["probes"] == 2 and len(smtp["outages"]) == 1 and smtp["outages"][0][2] >= 0
    not_read = users_view(lines)
    assert not_read["ledger"].startswith("mail ledger: sent 1; new's mailbox was not read") and not_read["mail"] is None


@st.composite
def nights(draw):
    """Messages with their attempts' outcomes and the copies of each attempt found at the end."""
    count = draw(st.integers(1, 12))
    plan = []
    for seq in range(1, count + 1):
        failures = draw(st.lists(st.sampled_from(["refused", "deferred", "unknown"]), max_size=3))
        accepted = draw(st.booleans())
        outcomes = failures + (["accepted"] if accepted else [])
        if not outcomes:
            outcomes = ["deferred"]
        copies = draw(st.lists(st.integers(1, len(outcomes)), max_size=3))
        plan.append((seq, outcomes, copies))
    return plan


@settings(deadline=None, max_examples=60)
@given(nights())
def test_the_line_counts_every_accepted_message_exactly_once(tmp_path_factory, plan):
    tmp = tmp_path_factory.mktemp("box")
    lines = [line for seq, outcomes, _ in plan for line in attempts(seq, *outcomes)]
    text = mbox_text(tmp, [tag(seq, a) for seq, _, copies in plan for a in copies])
    sent, delivered, lost, duplicated = map(int, LINE.match(ledger.reconcile(lines, text, RUN).line).groups())
    accepted = [(seq, copies) for seq, outcomes, copies in plan if "accepted" in outcomes]
    assert sent == len(accepted) == delivered + lost + duplicated
    assert delivered == sum(len(c) == 1 for _, c in accepted)
    assert lost == sum(not c for _, c in accepted)
    assert duplicated == sum(len(c) > 1 for _, c in accepted)
