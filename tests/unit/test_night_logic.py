"""The night's bookkeeping, from journals (pure): TTL wait, exposures, interrupted transactions, swap state, resume pairs."""

from datetime import datetime, timedelta, timezone

import pytest

from fabfile import exposures, ttlwait
from fabfile.journal import Journal
from fabfile.lanes import skips
from fabfile.steps import step_states
from fabfile.transaction import interrupted


def rec(t, event, step=None, host=None, run="r1", **fields):
    return dict(time=f"2026-12-01T{t}+00:00", run=run, user="ops", host=host, task="t", step=step, event=event, **fields)


def test_ttl_wait_counts_down_from_z1_by_the_ttl_it_replaced():
    records = [rec("10:00:00", "note", "Z1", "new", ttl_replaced=3600, ttl_now=300)]
    at = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)
    assert ttlwait.safe_at(records) == at
    assert ttlwait.remaining(records, at - timedelta(minutes=10)) == 600
    assert ttlwait.remaining(records, at + timedelta(seconds=1)) == 0
    assert "phase1 may start at 2026-12-01T11:00:00+00:00 (10m00s from now" in ttlwait.countdown_line(records, at - timedelta(minutes=10))
    assert ttlwait.countdown_line(records, at) is None and ttlwait.safe_at([]) is None


def test_an_exposure_is_open_until_an_explicit_closing_record():
    records = [rec("10:00:00", "note", "C1", "new", exposure=exposures.ROOT_LOGIN, state="open", detail="root login is OPEN on new")]
    assert [r["exposure"] for r in exposures.still_open(records)] == [exposures.ROOT_LOGIN]
    line = exposures.open_exposure_lines(records)[0]
    assert line.startswith("OPEN since 2026-12-01 10:00:00: root login is OPEN on new; close: fab phase2.close-root-login")
    records.append(rec("10:05:00", "note", "C5", "new", exposure=exposures.ROOT_LOGIN, state="closed"))
    assert exposures.still_open(records) == [] and exposures.latest(records, exposures.ROOT_LOGIN, "new")["state"] == "closed"


def test_a_transaction_without_its_end_is_found_with_the_backups_it_prepared():
    records = [
        rec("10:00:00", "intent", "C3", "new", tx="a1", state="begun", paths=["/etc/group", "/etc/gshadow", "/etc/shadow", "/etc/passwd"]),
        rec("10:00:01", "prepare", "C3", "new", tx="a1", path="/etc/group", backup="/etc/group.bak", sha256_before="b", sha256_after="a"),
    ]
    pending = interrupted(records, "new", "C3")
    assert pending.tx == "a1" and list(pending.prepared) == ["/etc/group"] and len(pending.paths) == 4
    assert interrupted(records, "old", "C3") is None
    assert interrupted(records + [rec("10:00:02", "intent", "C3", "new", tx="a1", state="committed")], "new", "C3") is None


def test_swap_state_can_be_unknown_and_a_host_is_its_key(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.write("note", host="old", host_key="ssh-ed25519 AAAAOLD")
    j.write("note", host="new", host_key="ssh-ed25519 AAAANEW")
    assert j.swapped("old") is False
    j.write("note", host="old", step="C10", swapped="unknown")
    assert j.swapped("old") is None
    j.write("note", host="old", step="C10", swapped=True)
    assert j.swapped("old") is True
    assert j.host_key("old") == "ssh-ed25519 AAAAOLD" and j.key_owner("ssh-ed25519 AAAANEW") == "new"


class T:
    def __init__(self, sid, name):
        from types import SimpleNamespace

        self.serverswap_step = SimpleNamespace(ids=(sid,), task_name=name)


def test_a_finished_prep_resumed_reopens_nothing():
    records = [rec(f"10:0{i}:00", e, s) for i, (s, e) in enumerate([("P1", "start"), ("P1", "change"), ("P1", "done"),
                                                                      ("P2", "start"), ("P2", "done"), ("P3", "start"), ("P3", "change"), ("P3", "done"),
                                                                      ("P4", "start"), ("P4", "change")])] + [rec("10:10:00", "done", "P4")]
    lane = [T("P1", "prep.allow-root-login"), T("P2", "prep.rsync-dryrun"), T("P3", "prep.rsync")]
    assert skips(lane, step_states(records), force=False) == {"prep.allow-root-login", "prep.rsync-dryrun", "prep.rsync"}


def test_a_failed_step_inside_a_closed_pair_reopens_it():
    records = [rec("10:00:00", "start", "C1"), rec("10:00:01", "change", "C1"), rec("10:00:02", "done", "C1"),
               rec("10:01:00", "start", "C2"), rec("10:01:02", "done", "C2"), rec("10:02:00", "start", "C4"), rec("10:02:02", "failed", "C4"),
               rec("10:03:00", "start", "C5"), rec("10:03:01", "change", "C5"), rec("10:03:02", "done", "C5")]
    lane = [T("C1", "a"), T("C2", "b"), T("C4", "d")]
    assert skips(lane, step_states(records), force=False) == {"b"}   # C4 must run, so C1 opens again; C2 stays done


def test_qmail_qread_listing_is_read_as_qmail_writes_it():
    from fabfile.edit.qmailqueue import parse_qread

    text = ("1 Dec 2026 22:10:03 GMT  #1234  456  <a@x>\n\tlocal\tyasuda@itpass.scitec.kobe-u.ac.jp\n\tremote\tb@example.org\n"
            "1 Dec 2026 22:10:04 GMT  #1235  99  <>\n\tremote\tc@example.org\n\tretry 2: connection refused\n")
    q = parse_qread(text)
    assert q.messages == 2 and q.local == ["yasuda@itpass.scitec.kobe-u.ac.jp"] and q.remote == ["b@example.org", "c@example.org"]
    assert parse_qread("").messages == 0


def test_status_says_unknown_for_a_move_not_confirmed():
    from fabfile.cockpit.status import swap_state

    records = [rec("10:00:00", "note", "C10", "old", swapped="unknown"), rec("10:00:01", "note", "C10", "new", swapped=True)]
    assert swap_state(records, ["old", "new", "backup"]) == {"old": None, "new": True, "backup": False}
