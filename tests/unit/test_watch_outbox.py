"""The watcher's mail queue behaves like an MTA's: paced new messages, back-off, a limit, give-up (time is given)."""

from fabfile.watch.ledger import message_tag
from fabfile.watch.probes import Outbox


def outbox(**kw):
    values = dict(every=1.0, limit=100, first_retry=1.0, max_retry=8.0, give_up_after=60.0) | kw
    return Outbox("0123abcd", **values)


def test_new_messages_are_paced_and_rcpt_only_probes_fill_between():
    box = outbox()
    first = box.take(0.0)
    assert first.tag == message_tag("0123abcd", 1)
    assert box.take(0.2) is None and box.take(0.99) is None    # RCPT-only sessions until the next message is due
    assert box.take(1.0).tag == message_tag("0123abcd", 2)


def test_a_failed_attempt_backs_off_doubling_up_to_the_maximum():
    box = outbox(every=1000.0)
    msg = box.take(0.0)
    dues = []
    now = 0.0
    for _ in range(6):
        msg.attempts += 1
        assert box.settle(msg, accepted=False, now=now) is False
        dues.append(msg.due - now)
        assert box.take(msg.due - 0.01) is None                 # not due yet
        now = msg.due
        assert box.take(now) is msg                             # due: taken out of the queue again
    assert dues == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_due_retry_goes_before_a_new_message():
    box = outbox(every=1.0)
    msg = box.take(0.0)
    msg.attempts = 1
    box.settle(msg, accepted=False, now=0.5)                    # due at 1.5
    assert box.take(1.2).tag == message_tag("0123abcd", 2)      # nothing due: a new one
    assert box.take(1.6) is msg


def test_accepted_messages_leave_the_queue_and_the_limit_holds():
    box = outbox(every=0.1, limit=3)
    taken = [box.take(t / 10) for t in range(10)]
    assert [m.tag for m in taken if m] == [message_tag("0123abcd", n) for n in (1, 2, 3)]
    for m in filter(None, taken):
        m.attempts = 1
        assert box.settle(m, accepted=True, now=1.0) is False
    assert box.waiting() == [] and box.take(5.0) is None


def test_given_up_after_the_time_limit_and_draining_takes_no_new_message():
    box = outbox(give_up_after=10.0)
    msg = box.take(0.0)
    msg.attempts = 1
    assert box.settle(msg, accepted=False, now=9.0) is False
    assert box.take(100.0, new=False) is msg
    msg.attempts = 2
    assert box.settle(msg, accepted=False, now=100.0) is True   # a bounce
    assert box.waiting() == [] and box.take(200.0, new=False) is None
