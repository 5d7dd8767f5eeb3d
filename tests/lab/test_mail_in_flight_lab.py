"""Mail in flight across the swap (issue 14): a message queued on old while S4 has its qmail stopped
reaches its user on new once phase2 has swapped the machines. Checked from outside: old's queue
(qmail-qread through lab.api), new's mailbox, and POP on the site's address, where users read it."""

import poplib
import uuid

import pytest
from steprun import Night, sh, wait_booted

from fabfile import phase1, phase2

pytestmark = pytest.mark.lab

SITE = "198.18.0.22"   # the site's address: old's before the swap, new's after it


def test_a_message_queued_on_old_after_s4_is_delivered_on_new_after_the_swap(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    night = Night(tmp_path, lab)
    night.run(phase1.stop_mail)                                  # S4: qmail, smtp and inetd off on old
    tag = f"in-flight-{uuid.uuid4().hex[:8]}"
    sh("old", f"printf 'Subject: {tag}\\n\\nqueued while qmail was stopped\\n' | qmail-inject yasuda@itpass.scitec.kobe-u.ac.jp")
    assert lab.qstat("old")["queued"] == 1                        # in old's queue, not delivered
    assert tag not in sh("old", "cat /home/yasuda/Mailbox 2>/dev/null || true")

    night.run(phase2.all_steps)                                  # C4 drains old's queue before the copy; C10 swaps
    assert lab.address("new") == SITE
    assert lab.qstat("old")["queued"] == 0
    assert sh("new", "cat /home/yasuda/Mailbox").count(f"Subject: {tag}") == 1
    assert _pop_subjects(tmp_path, "yasuda").count(tag) == 1         # where the user reads it: the site's POP, now on new


def _pop_subjects(tmp_path, user: str) -> list[str]:
    """The subjects of USER's mailbox as POP on the site's address serves them (APOP, the secret from pop_auth)."""
    from steprun import settings

    secret = _apop_secret(settings(tmp_path / "j").pop_auth.path, user)
    pop = poplib.POP3(SITE, 110, timeout=10)
    try:
        pop.apop(user, secret)
        count, _ = pop.stat()
        heads = [pop.top(i + 1, 0)[1] for i in range(count)]
    finally:
        pop.quit()
    return [line.decode()[len("Subject: "):] for head in heads for line in head if line.startswith(b"Subject: ")]


def _apop_secret(path: str, user: str) -> str:
    for line in sh("new", f"cat {path}").splitlines():
        fields = line.split()   # qpopper's pop.auth as the lab keeps it: `user secret`
        if len(fields) == 2 and fields[0] == user:
            return fields[1]
    raise AssertionError(f"{user} has no APOP secret in new's {path}")
