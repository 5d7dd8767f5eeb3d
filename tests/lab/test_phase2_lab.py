"""phase2 on the lab, step by step on one fresh lab: dry run (no file changes), run, second run (unchanged).

The steps share one journal (C5 restores what C1 recorded, C8's second run and
C10 read the journal) and a private copy of the operator's known_hosts (C10
rewrites it). Failure cases (C3 conflict, C10 pre-flight, a host that does not
come back) each start from their own reset lab.
"""

import io

import pytest
from steprun import Night, hashes, run, settings, sh, wait_booted

from fabfile import phase2
from fabfile.session import Session

pytestmark = pytest.mark.lab

CRON = "/var/spool/cron/crontabs"
ACCOUNTS = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]
AK, AK_BK = "/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys.bk"
POP = "/usr/local/qpopper/pop.auth"
IDENTITY = ["/etc/hostname", "/etc/hosts", "/etc/mailname", "/etc/exim4/update-exim4.conf.conf",
            "/usr/local/bind/etc/namedb/localhost.zone", "/usr/local/bind/etc/namedb/localhost.rev",
            "/etc/network/interfaces"]
CARRIED = ["yasuda", "morikawa", "sugiyama", "kawahara", "odaka", "tanaka"]


@pytest.fixture(scope="module")
def night(lab, tmp_path_factory):
    lab.reset()
    wait_booted("old", "new")
    return Night(tmp_path_factory.mktemp("night"), lab)


def no_secret_in(output):
    assert "$y$" not in output and "$6$" not in output and "apop-" not in output


def assert_unchanged(r):
    assert r.changes() == [], r.output
    assert "unchanged" in r.output


# ---- C2 ---------------------------------------------------------------------------


def test_c2_copy_crontabs(night):
    assert sh("new", f"ls {CRON}").split() == ["chikuwa1"]
    before = hashes("new", [CRON])
    r = night.run(phase2.copy_crontabs, dry=True)
    assert "would install" in r.output and hashes("new", [CRON]) == before and r.changes() == []

    r = night.run(phase2.copy_crontabs)
    for user in ("itpass", "kawahara", "yasuda"):
        path = f"{CRON}/{user}"
        assert sh("new", f"sha256sum < {path}") == sh("old", f"sha256sum < {path}")
        assert sh("new", f"stat -c '%a %u %G' {path}") == sh("old", f"stat -c '%a %u %G' {path}")
    assert sh("new", f"stat -c %U {CRON}/itpass").strip() == "itpass"          # by name where the user exists
    assert "numeric 1002 (C3 adds yasuda" in r.output                          # not yet: old's UID, which C3 keeps
    assert sh("new", f"ls -A {CRON}").split() == ["chikuwa1", "itpass", "kawahara", "yasuda"]   # nothing left lying around
    assert_unchanged(night.run(phase2.copy_crontabs))


# ---- C3 ---------------------------------------------------------------------------


def test_c3_merge_accounts(night):
    for user in CARRIED:
        assert sh("new", f"getent passwd {user}", check=False) == ""
    before = hashes("new", ACCOUNTS + ["/etc/shadow~"])
    r = night.run(phase2.merge_accounts, dry=True)
    assert "add yasuda (uid 1002" in r.output and hashes("new", ACCOUNTS + ["/etc/shadow~"]) == before
    no_secret_in(r.output)

    r = night.run(phase2.merge_accounts)
    no_secret_in(r.output)
    assert "holding /etc/.pwd.lock (lckpwdf)" in r.output and "released /etc/.pwd.lock" in r.output
    for user in CARRIED:
        assert sh("new", f"getent passwd {user}") == sh("old", f"getent passwd {user}")
        assert sh("new", f"getent shadow {user}") == sh("old", f"getent shadow {user}")
    for user in ("visitor", "oldsys"):           # outside 1000-29999
        assert sh("new", f"getent passwd {user}", check=False) == ""
    assert sh("new", "getent passwd chikuwa1").startswith("chikuwa1:x:1500:")   # new's own stay
    assert sh("new", "getent group yasuda").startswith("yasuda:x:1002:")
    assert sh("new", "cmp /etc/shadow~ " + next(c["backup"] for c in r.changes() if c.get("path") == "/etc/shadow")) == ""
    assert sh("new", "stat -c '%a %U:%G' /etc/shadow /etc/passwd").split() == ["640", "root:shadow", "644", "root:root"]
    assert sh("new", f"stat -c %U {CRON}/yasuda").strip() == "yasuda"          # C2's numeric owner is now the user
    paths = [c["path"] for c in r.changes() if c.get("path")]
    assert paths == ["/etc/group", "/etc/gshadow", "/etc/shadow", "/etc/passwd"]
    assert_unchanged(night.run(phase2.merge_accounts))


# ---- C1 + C4 + C5 -----------------------------------------------------------------


def test_c1_c4_c5_rsync_home_between_open_and_close(night):
    sshd_before = hashes("new", ["/etc/ssh/sshd_config"])
    assert sh("new", "ls /home/yasuda", check=False) == ""
    r = night.run(phase2.allow_root_login)
    assert "PermitRootLogin prohibit-password" in sh("new", "cat /etc/ssh/sshd_config")
    home_before = hashes("new", ["/home"])
    r = night.run(phase2.rsync_home, dry=True)
    assert "to send" in r.output and hashes("new", ["/home"]) == home_before
    r = night.run(phase2.rsync_home)
    assert sh("new", "stat -c %U /home/yasuda/Mailbox").strip() == "yasuda"
    # the per-file list stays on old (LOG.real); only progress, deletions and stats come back
    assert "yasuda/Mailbox" not in r.output and "rsync: sent " in r.output
    assert "yasuda/Mailbox" in sh("old", "cat /tmp/rsync_old2new.log.real")
    assert sh("new", "ls /home/chikuwa1", check=False) != ""       # excluded, so kept
    r = night.run(phase2.close_root_login)
    assert hashes("new", ["/etc/ssh/sshd_config"]) == sshd_before
    assert_unchanged(night.run(phase2.close_root_login))


# ---- C6 ---------------------------------------------------------------------------


def test_c6_restrict_new_key(night):
    before = hashes("old", [AK, AK_BK])
    assert sh("new", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@198.18.0.22 hostname").strip() == "itpass"
    r = night.run(phase2.restrict_new_key, dry=True)
    assert "would run: mv" in r.output and hashes("old", [AK, AK_BK]) == before

    r = night.run(phase2.restrict_new_key)
    assert sh("old", f"ls {AK}", check=False) == ""
    new_key = sh("new", "cut -d' ' -f2 /root/.ssh/id_ed25519.pub").strip()
    line = [x for x in sh("old", f"cat {AK_BK}").splitlines() if new_key in x][0]
    assert line.startswith('command="rsync --server -vlogDtpr --delete . /home/",no-pty,from="ika-itpass.scitec.kobe-u.ac.jp"')
    assert "a fresh operator login still works" in r.output
    # root login on old with new's key is refused now
    refused = sh("new", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@198.18.0.22 hostname; echo rc=$?", check=False)
    assert "rc=255" in refused

    r = night.run(phase2.restrict_new_key)
    assert_unchanged(r)
    assert "already renamed" in r.output


# ---- C7 ---------------------------------------------------------------------------


def test_c7_copy_pop_auth(night):
    before = hashes("new", [POP])
    r = night.run(phase2.copy_pop_auth, dry=True)
    assert hashes("new", [POP]) == before and "sha256" in r.output
    no_secret_in(r.output)

    r = night.run(phase2.copy_pop_auth)
    no_secret_in(r.output)
    assert sh("new", f"sha256sum < {POP}") == sh("old", f"sha256sum < {POP}")
    assert sh("new", f"stat -c '%a %U:%G' {POP}").strip() == sh("old", f"stat -c '%a' {POP}").strip() + " pop:mail"
    backup = r.changes()[0]["backup"]
    assert "apop-itpadmin-new" in sh("new", f"cat {backup}")      # new's previous file kept
    listing = sh("new", "ls -A /usr/local/qpopper").split()
    assert sorted(listing) == sorted(["pop.auth", backup.rsplit("/", 1)[1]])   # no temp file lying around
    assert_unchanged(night.run(phase2.copy_pop_auth))


# ---- C8 + C9 ------------------------------------------------------------------------


def test_c8_c9_swap_identity(night):
    before = {h: hashes(h, IDENTITY) for h in ("old", "new")}
    r = night.run(phase2.swap_identity, dry=True)
    assert "would change" in r.output
    assert {h: hashes(h, IDENTITY) for h in ("old", "new")} == before

    r = night.run(phase2.swap_identity)
    assert sh("old", "cat /etc/hostname").strip() == "old-itpass"
    assert sh("new", "cat /etc/hostname").strip() == "itpass"
    assert "address 198.18.0.21" in sh("old", "cat /etc/network/interfaces")
    assert "address 198.18.0.22" in sh("new", "cat /etc/network/interfaces")
    assert sh("new", "cat /etc/mailname").strip() == "itpass.scitec.kobe-u.ac.jp"
    for host in ("old", "new"):
        zone = sh(host, "named-checkzone -q scitec.kobe-u.ac.jp /usr/local/bind/etc/namedb/localhost.zone; echo $?")
        assert zone.strip() == "0"
        text = sh(host, "cat /usr/local/bind/etc/namedb/localhost.zone")
        assert "old-itpass\tIN\tA\t198.18.0.21" in text and "itpass\tIN\tA\t198.18.0.22" in text
        assert "new-itpass\tIN\tA\t198.18.0.22" in text and "MX\t10 itpass.scitec.kobe-u.ac.jp." in text
        rev = sh(host, "cat /usr/local/bind/etc/namedb/localhost.rev")
        assert "21\tIN\tPTR\told-itpass.scitec.kobe-u.ac.jp." in rev and "22\tIN\tPTR\titpass.scitec.kobe-u.ac.jp." in rev
        assert "2009102001" not in text and "2009102001" not in rev
    assert "leftover search:" in r.output and "/etc/hosts:" in r.output      # machine names ika/tako are reported
    assert "/etc/gate/gate.conf: not on" in r.output or "/etc/gate/gate.conf: changing" in r.output

    after = {h: hashes(h, IDENTITY) for h in ("old", "new")}
    r = night.run(phase2.swap_identity)
    assert_unchanged(r)
    assert "already swapped" in r.output
    assert {h: hashes(h, IDENTITY) for h in ("old", "new")} == after


# ---- C10 ----------------------------------------------------------------------------


def test_c10_restart_network(night, lab):
    r = night.run(phase2.restart_network, dry=True)
    assert "dry run: would launch" in r.output
    assert lab.address("old") == "198.18.0.22" and lab.address("new") == "198.18.0.21"

    r = night.run(phase2.restart_network)
    assert lab.address("old") == "198.18.0.21" and lab.address("new") == "198.18.0.22"
    assert sh("old", "hostname").strip() == "old-itpass" and sh("new", "hostname").strip() == "itpass"
    assert r.session.journal.swapped("old") and r.session.journal.swapped("new")
    kh = night.known_hosts.read_text()
    old_key = sh("old", "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").strip()
    new_key = sh("new", "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").strip()
    assert f"198.18.0.21 ssh-ed25519 {old_key}" in kh and f"198.18.0.22 ssh-ed25519 {new_key}" in kh
    assert "back at 198.18.0.21 as old-itpass" in r.output and "back at 198.18.0.22 as itpass" in r.output

    r = night.run(phase2.restart_network)
    assert "already swapped" in r.output and r.changes() == []
    # other steps now reach the hosts at their after addresses (the journal says swapped)
    assert_unchanged(night.run(phase2.copy_pop_auth))


# ---- failures, each on its own lab ------------------------------------------------------


def test_c3_conflict_refuses_and_changes_nothing(lab, tmp_path):
    lab.reset(conflict=True)
    wait_booted("old", "new")
    before = hashes("new", ACCOUNTS + ["/etc/shadow~"])
    with pytest.raises(Exception) as info:
        run(phase2.merge_accounts, tmp_path / "j")
    assert "conflict" in str(info.value)
    assert hashes("new", ACCOUNTS + ["/etc/shadow~"]) == before


def test_c10_refuses_before_c8_and_touches_nothing(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    night = Night(tmp_path, lab)
    with pytest.raises(Exception) as info:
        night.run(phase2.restart_network)
    assert "run phase2.swap-identity (C8+C9) first" in str(info.value)
    assert lab.address("old") == "198.18.0.22" and lab.address("new") == "198.18.0.21"


def test_c10_one_host_not_coming_back_is_reported_and_the_other_stays(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    night = Night(tmp_path, lab)
    night.run(phase2.swap_identity)
    # new's interface will not come up again after the restart
    sh("new", "sed -i 's/^\\taddress 198.18.0.22$/\\taddress 198.18.0.22\\n\\tpre-up false/' /etc/network/interfaces")
    with pytest.raises(Exception) as info:
        night.run(phase2.restart_network, overrides={"network": {"reconnect_timeout": 15}})
    assert "new is UNKNOWN: not at 198.18.0.22" in str(info.value) and "fab locate" in str(info.value)
    journal = list(night.journal.open())
    assert '"swapped": "unknown"' in [x for x in journal if '"host": "new"' in x and "swapped" in x][-1]   # neither address is known to be new
    # old swapped and answers at its after address, as itself
    assert lab.address("old") == "198.18.0.21" and sh("old", "hostname").strip() == "old-itpass"
    session = Session(settings(night.journal, operator={"known_hosts": str(night.known_hosts)}), out=io.StringIO())
    try:
        host = session.host("old")
        session.guard(host, "old", "test")
        assert host.address == "198.18.0.21"
    finally:
        session.close()
    kh = night.known_hosts.read_text()
    new_key = sh("new", "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").strip()
    assert f"198.18.0.22 ssh-ed25519 {new_key}" not in kh


def test_phase2_stopping_at_c3_still_closes_root_login(lab, tmp_path):
    lab.reset(conflict=True)
    wait_booted("old", "new")
    night = Night(tmp_path, lab)
    sshd_before = hashes("new", ["/etc/ssh/sshd_config"])
    ak_before = hashes("old", [AK, AK_BK])
    with pytest.raises(Exception) as info:
        night.run(phase2.all_steps)
    assert "phase2 stopped at phase2.merge-accounts" in str(info.value)
    r_journal = night.journal.read_text()
    assert '"step": "C1", "event": "done"' in r_journal and '"step": "C5", "event": "done"' in r_journal
    assert hashes("new", ["/etc/ssh/sshd_config"]) == sshd_before          # C5 ran in the finally
    assert sh("new", "ls /var/spool/cron/crontabs").split() == ["chikuwa1", "itpass", "kawahara", "yasuda"]  # C2 done
    assert hashes("old", [AK, AK_BK]) == ak_before                          # nothing after C5 ran


def test_phase2_whole_phase(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    night = Night(tmp_path, lab)
    sshd_before = hashes("new", ["/etc/ssh/sshd_config"])
    r = night.run(phase2.all_steps)
    assert lab.address("old") == "198.18.0.21" and lab.address("new") == "198.18.0.22"
    assert sh("old", "hostname").strip() == "old-itpass" and sh("new", "hostname").strip() == "itpass"
    assert hashes("new", ["/etc/ssh/sshd_config"]) == sshd_before
    assert sh("old", f"ls {AK_BK}").strip() == AK_BK and sh("old", f"ls {AK}", check=False) == ""
    assert sh("new", "getent passwd yasuda").startswith("yasuda:x:1002:")
    assert sh("new", f"sha256sum < {POP}") == sh("old", f"sha256sum < {POP}")
    states = [(x["step"], x["event"]) for x in r.session.journal.records() if x.get("event") == "done"]
    assert [s for s, _ in states] == ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C10"]
