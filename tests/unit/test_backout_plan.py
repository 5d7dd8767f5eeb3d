"""The back-out plan from journals (pure), and mbox carrying."""

from fabfile import backout_plan
from fabfile.edit import mbox


def rec(t, event, step=None, host=None, task="t", **fields):
    return dict(time=f"2026-12-01T{t}+00:00", run="r1", user="ops", host=host, task=task, step=step, event=event, **fields)


NIGHT = [
    rec("09:00:00", "start", "Z1", "new"), rec("09:00:01", "change", "Z1", "new", path="/z", backup="/z.b0", sha256_before="z0", sha256_after="z1"),
    rec("10:00:00", "start", "S2", "old"),
    rec("10:00:01", "note", "S2", "old", service="apache2", unit="apache2", running_before=True, running_after=False),
    rec("10:10:00", "change", "C3", "new", path="/etc/passwd", backup="/etc/passwd.b", sha256_before="p0", sha256_after="p1"),
    rec("10:10:01", "note", "C3", "new", accounts_added=["yasuda"]),
    rec("10:20:00", "change", "C8", "old", path="/etc/hosts", backup="/etc/hosts.b1", sha256_before="h0", sha256_after="h1"),
    rec("10:20:01", "change", "C2", "new", path="/var/spool/cron/crontabs/yasuda", sha256_after="c1"),
    rec("10:30:00", "note", "C10", "old", swapped=True),
    rec("10:40:00", "note", "D3", "old", service="apache2", unit="apache2", enabled_before=True, enabled_after=False),
    rec("10:41:00", "change", "D4", "old", path="/etc/hosts", backup="/etc/hosts.b2", sha256_before="h1", sha256_after="h2"),
    rec("11:00:00", "change", None, "old", task="backout", path="/etc/hosts", sha256_after="h0"),
]


def test_each_file_goes_back_to_before_its_first_change_of_the_night():
    plan = backout_plan.plan(NIGHT, ["old", "new"])
    files = {(f.host, f.path): f for f in plan.files}
    hosts = files[("old", "/etc/hosts")]
    assert (hosts.backup, hosts.sha256_before, hosts.sha256_last) == ("/etc/hosts.b1", "h0", "h2")   # Z1 before the night is not undone
    assert ("new", "/z") not in files and files[("new", "/var/spool/cron/crontabs/yasuda")].created
    assert plan.accounts_added == ["yasuda"] and [f.path for f in plan.kept_accounts] == ["/etc/passwd"]
    assert ("new", "/etc/passwd") in {(f.host, f.path) for f in backout_plan.plan(NIGHT, ["old", "new"], remove_accounts=True).files}


def test_services_go_back_to_their_state_before_the_night_and_the_swap_is_undone():
    plan = backout_plan.plan(NIGHT, ["old", "new"])
    [apache] = plan.services
    assert (apache.host, apache.service, apache.running, apache.enabled) == ("old", "apache2", True, True)
    assert plan.swapped == {"old": True, "new": False}
    text = "\n".join(backout_plan.describe(plan, None))
    assert "old: /etc/hosts: restore from /etc/hosts.b1" in text and "back to running, on at boot" in text and "restart networking back" in text


def test_nothing_to_back_out_before_the_night():
    plan = backout_plan.plan(NIGHT[:2], ["old", "new"])
    assert plan.start is None and backout_plan.describe(plan, None) == ["nothing to back out: no step of the night (phase1 on) ran"]


def test_mbox_carries_only_what_the_other_lacks():
    a = "From x@y Mon Dec  1 10:00:00 2026\nSubject: 1\n\nbody 1\n\nFrom z@y Mon Dec  1 10:01:00 2026\nSubject: 2\n\nbody 2\n\n"
    b = "From x@y Mon Dec  1 10:00:00 2026\nSubject: 1\n\nbody 1\n\n"
    missing = mbox.missing_from(a, b)
    assert len(missing) == 1 and "Subject: 2" in missing[0]
    merged = mbox.append(b, missing)
    assert mbox.messages(merged) == mbox.messages(a) and mbox.missing_from(a, merged) == []
    assert mbox.append("", missing) == missing[0]
