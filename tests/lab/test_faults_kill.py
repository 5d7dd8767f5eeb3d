"""Faults: `fab` killed (SIGKILL, as a power cut) inside each step that changes several files, and between C1 and C5.

Each scenario checks the hosts from outside afterwards: the set of files is
either as before or wholly changed (never half), the next run says what it
found and rolls back (the default with --yes), and a run after that does
the step completely. No file is lost: every backup the journal names holds
the content its sha256_before says.
"""

import json

import pytest
from faultkit import HANG, FabNight
from steprun import hashes, sh, wait_booted

pytestmark = pytest.mark.lab

ACCOUNTS = ["/etc/group", "/etc/gshadow", "/etc/shadow", "/etc/passwd"]


@pytest.fixture
def night(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    return FabNight(tmp_path)


def backups_hold_their_originals(night):
    """Files lost: 0. Every backup a change record names has the sha256 the record says the original had."""
    lost = []
    for r in night.records():
        if r.get("event") in ("change", "prepare") and r.get("backup") and r.get("sha256_before"):
            got = sh(r["host"], f"sha256sum {r['backup']} | cut -d' ' -f1", check=False).strip()
            if got != r["sha256_before"]:
                lost.append((r["host"], r["path"], r["backup"]))
    assert not lost, f"backups that do not hold their original: {lost}"


def zone_files(lab):
    from fabfile import settings as settings_mod

    s = settings_mod.load(lab.hosts_file())
    return [f"{s.ttl.zone_dir}/{n}" for n in s.ttl.zone_files]


@pytest.mark.parametrize("kill_at", ["prepare:/etc/gshadow", "renamed:/etc/passwd"])
def test_c3_killed_half_way_is_rolled_back_then_done_whole(night, kill_at):
    before = hashes("new", ACCOUNTS)
    killed = night.fab("phase2.merge-accounts", "--yes", fault=kill_at)
    assert killed.code == -9 and killed.seconds < HANG
    half = hashes("new", ACCOUNTS)
    assert half != before                                             # something was renamed before the kill
    again = night.fab("phase2.merge-accounts", "--yes")
    assert "was interrupted after preparing" in again.out and "rolled back" in again.out, again.out[-2000:]
    assert hashes("new", ACCOUNTS) == before                           # all or nothing: back to the whole original set
    done = night.fab("phase2.merge-accounts", "--yes")
    assert done.code == 0, done.err[-1000:]
    after = hashes("new", ACCOUNTS)
    assert all(after[p] != before[p] for p in ("/etc/passwd", "/etc/shadow", "/etc/group"))   # the whole set changed
    assert "yasuda" in sh("new", "getent passwd yasuda") and sh("new", "pwck -r >/dev/null 2>&1; echo $?", check=False).strip() in ("0", "2")
    backups_hold_their_originals(night)


def test_c8_killed_half_way_is_rolled_back_on_both_hosts(night):
    files = ["/etc/hostname", "/etc/hosts", "/etc/mailname"]
    before = {h: hashes(h, files) for h in ("old", "new")}
    killed = night.fab("phase2.swap-identity", fault="prepare:/etc/hosts")
    assert killed.code == -9
    again = night.fab("phase2.swap-identity")
    assert "was interrupted" in again.out and "rolled back" in again.out, again.out[-2000:]
    assert {h: hashes(h, files) for h in ("old", "new")} == before
    done = night.fab("phase2.swap-identity")
    assert done.code == 0, done.err[-1000:]
    assert sh("old", "cat /etc/hostname").strip() == "old-itpass" and sh("new", "cat /etc/hostname").strip() == "itpass"
    backups_hold_their_originals(night)


def test_z1_killed_between_its_zone_files_is_rolled_back(night, lab):
    first, second = zone_files(lab)[:2]
    before = hashes("new", [first, second])
    killed = night.fab("phase0.lower-ttl", fault=f"prepare:{second}")
    assert killed.code == -9 and hashes("new", [first]) != {first: before[first]}
    again = night.fab("phase0.lower-ttl")
    assert "rolled back" in again.out and hashes("new", [first, second]) == before, again.out[-2000:]
    backups_hold_their_originals(night)


def permit_for_old(lab):
    from fabfile import settings as settings_mod

    s = settings_mod.load(lab.hosts_file())
    old = s.by_role("old")
    out = sh("new", f"sshd -T -C user=root,host={old.before.ip},addr={old.before.ip}")
    return next(line.split()[1] for line in out.splitlines() if line.startswith("permitrootlogin "))


def test_killed_between_c1_and_c5_root_login_shows_open_until_a_resume_closes_it(night, lab):
    killed = night.fab("phase2", "--yes", fault="step-done:C1")
    assert killed.code == -9 and permit_for_old(lab) != "no"          # the door really is open
    status = night.fab("status")
    assert "OPEN since" in status.out and "root login is OPEN on new" in status.out
    again = night.fab("phase2.close-root-login")
    assert again.code == 0 and "!! OPEN since" in again.out            # a run that starts with it open says so first
    assert permit_for_old(lab) == "no"
    assert "root login is OPEN" not in night.fab("status").out
    report = (night.dir / "report.md")
    night.fab("report")
    assert "OPEN" not in report.read_text().split("## Service window")[0]


def test_resume_after_a_finished_prep_opens_nothing(night, lab):
    first = night.fab("prep", "--yes")
    assert first.code == 0, first.err[-2000:]
    marks = len([r for r in night.records() if r.get("event") == "change"])
    again = night.fab("prep", "--yes")
    assert again.code == 0 and "sshd restarted" not in again.out
    assert len([r for r in night.records() if r.get("event") == "change"]) == marks   # no new change, no new backup
    assert permit_for_old(lab) == "no"
    assert json.dumps(night.records()).count("root login is OPEN") == 1
