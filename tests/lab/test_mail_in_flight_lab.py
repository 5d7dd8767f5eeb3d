"""Mail in flight across the swap (issue 14): a message queued on old while S4 has its qmail stopped
reaches its user on new once phase2 has swapped the machines. Checked from outside: old's queue
(qmail-qread through lab.api), new's mailbox, and POP on the site's address, where users read it."""

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
    sh("old", f"printf 'Subject: {tag}\\n\\nqueued while qmail was stopped\\n' | qmail-inject yasuda@itpass.scitec.kobe-u.ac.jp")   # checks.pop_user
    assert lab.qstat("old")["queued"] == 1                        # in old's queue, not delivered
    assert tag not in sh("old", "cat /home/yasuda/Mailbox 2>/dev/null || true")

    night.run(phase2.all_steps)                                  # C4 drains old's queue before the copy; C10 swaps
    assert lab.address("new") == SITE
    assert lab.qstat("old")["queued"] == 0
    assert sh("new", "cat /home/yasuda/Mailbox").count(f"Subject: {tag}") == 1
    assert _pop_subjects(tmp_path).count(tag) == 1         # where the user reads it: the site's POP, now on new


def _pop_subjects(tmp_path) -> list[str]:
    """The subjects of checks.pop_user's mailbox as POP on the site's address serves them (the watcher's own reader)."""
    from steprun import settings

    from fabfile.watch.mailbox import read_mailbox_pop

    checks = settings(tmp_path / "j").checks
    text = read_mailbox_pop(SITE, checks.pop_user, checks.pop_password, checks.pop_method)
    return [line[len("Subject: "):] for line in text.splitlines() if line.startswith("Subject: ")]
