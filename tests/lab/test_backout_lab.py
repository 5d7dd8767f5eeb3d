"""`fab backout --yes` on the lab: from each point of the night, the site goes back as it was, checked from outside.

Each scenario: reset the lab, take the pre-night state from outside (file
hashes on old and new, what is on at boot, what runs, the addresses, DNS
answers), run the night up to a point, back out, and compare: every file
hash equals its pre-night value (apart from logs, mailboxes, the journal
and the tool's own backups), the same services run and start at boot,
each host is at its before address with its before name, and old serves
http, pop, smtp and dns. A second back-out changes nothing; backing out
before the night did anything is a no-op.
"""

import pytest
from steprun import Night, eventually, hashes, programs, sh, wait_booted  # noqa: F401

from fabfile import backout, phase1, phase2, phase3, phase4, prep

pytestmark = pytest.mark.lab

FILES = {
    "old": ["/etc/hostname", "/etc/hosts", "/etc/mailname", "/etc/network/interfaces", "/var/qmail/control/locals",
            "/var/qmail/control/rcpthosts", "/root/.ssh/authorized_keys", "/etc/gate/gate.conf"],
    "new": ["/etc/hostname", "/etc/hosts", "/etc/mailname", "/etc/network/interfaces", "/var/qmail/control/locals",
            "/var/qmail/control/rcpthosts", "/etc/ssh/sshd_config", "/usr/local/qpopper/pop.auth", "/home/itpass/ml/ml-ctrl/bouncer",
            "/var/spool/cron/crontabs"],
}


def zone_files(lab):
    from fabfile import settings as settings_mod

    s = settings_mod.load(lab.hosts_file())
    return list(s.identity.zone_files)


def boot_list(host):
    return sh(host, "ls /etc/rc2.d 2>/dev/null; systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | cut -d' ' -f1", check=False)


def state(lab):
    """The pre-night picture, from outside: hashes, boot, daemons, addresses."""
    zones = zone_files(lab)
    return {h: {"files": hashes(h, FILES[h] + zones), "boot": boot_list(h), "runs": programs(h) & DAEMONS, "address": lab.address(h),
                "name": sh(h, "hostname").strip()} for h in ("old", "new")}


DAEMONS = {"apache2", "inetd", "named", "qmail-send", "tcpserver", "sshd", "cron"}


def night_until(night, point):
    """Run the night from prep up to `point` (the ids of the steps done), as an operator would."""
    night.run(prep.sync_home)
    night.run(phase1.all_)
    if point == "phase1":
        return
    if point == "before C10":
        for task in (phase2.allow_root_login, phase2.copy_crontabs, phase2.merge_accounts, phase2.rsync_home, phase2.close_root_login,
                     phase2.restrict_new_key, phase2.copy_pop_auth, phase2.swap_identity):
            night.run(task)
        return
    night.run(phase2.all_steps)
    if point == "after C10":
        return
    night.run(phase3.all_)
    if point == "failed V":  # V6 fails: the operator expected another address, and decides to back out
        with pytest.raises(Exception):
            night.run(phase4.check_dns, overrides={"checks": {"dns": {"itpass.scitec.kobe-u.ac.jp": "198.18.0.99"}}})


def backed_out(night):
    return night.run(backout.backout, yes=True)


@pytest.mark.parametrize("point", ["phase1", "before C10", "after C10", "after phase3", "failed V"])
def test_backout_puts_the_site_back(lab, tmp_path, point):
    lab.reset()
    wait_booted("old", "new", "backup")
    before = state(lab)
    night = Night(tmp_path, lab)
    night_until(night, point)
    r = backed_out(night)
    assert "backout complete: old serves the site as before the night" in r.output, r.output[-3000:]
    assert eventually(lambda: state(lab) == before, timeout=30), _diff(before, state(lab))
    again = backed_out(night)
    assert not again.changes(), [c.get("path") or c.get("detail") for c in again.changes()]   # twice: nothing more to do


def test_backout_before_the_night_is_a_noop(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    before = state(lab)
    night = Night(tmp_path, lab)
    night.run(prep.sync_home)
    r = backed_out(night)
    assert "nothing to back out" in r.output and not r.changes()
    assert state(lab) == before


def _diff(a, b):
    return {h: {k: (a[h][k], b[h][k]) for k in a[h] if a[h][k] != b[h][k]} for h in a}
