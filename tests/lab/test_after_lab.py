"""A1-A3 on the lab (new): reference copies removed, TTL restored, build accounts removed."""

import pytest
from invoke.exceptions import Exit
from steprun import eventually, hashes, run, sh, wait_booted

from fabfile import after, phase0

pytestmark = pytest.mark.lab

D = "/usr/local/bind/etc/namedb"
ZONES = [f"{D}/localhost.zone", f"{D}/localhost.rev"]
ACCOUNT_FILES = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/sudoers", "/home/chikuwa1", "/home/chikuwa2"]
COPIES = ["/root/from-old/etc", "/root/from-old/home-list.txt", "/root/from-old/never-made"]


@pytest.fixture(scope="module")
def fresh(lab):
    lab.reset()
    wait_booted("new")
    return lab


def test_a1_removes_the_reference_copies(fresh, tmp_path):
    sh("new", "mkdir -p /root/from-old && cp -a /etc /root/from-old/etc && ls -R /home > /root/from-old/home-list.txt")
    cleanup = {"cleanup": {"paths": COPIES}}
    before = hashes("new", COPIES)
    r = run(after.remove_reference_copies, tmp_path / "j", dry=True, overrides=cleanup)
    assert "/root/from-old/etc" in r.output and "never-made" not in r.output
    assert hashes("new", COPIES) == before
    run(after.remove_reference_copies, tmp_path / "j", overrides=cleanup)
    assert hashes("new", COPIES) == {p: "missing\n" for p in COPIES}
    assert sh("new", "ls /root/from-old").strip() == ""
    r = run(after.remove_reference_copies, tmp_path / "j", overrides=cleanup)
    assert "unchanged" in r.output and r.changes() == []


def test_a1_refuses_a_top_level_path_before_removing_anything(fresh, tmp_path):
    sh("new", "mkdir -p /root/from-old/keep")
    with pytest.raises(Exit) as info:
        run(after.remove_reference_copies, tmp_path / "j", overrides={"cleanup": {"paths": ["/root/from-old/keep", "/etc"]}})
    assert "refusing '/etc'" in info.value.message
    assert sh("new", "test -d /root/from-old/keep && test -f /etc/passwd && echo ok").strip() == "ok"


def soa(zone="scitec.kobe-u.ac.jp"):
    return eventually(lambda: sh("new", f"dig +short +time=1 @127.0.0.1 {zone} SOA", check=False).split())


def test_a2_restores_the_ttl_after_a_backup(fresh, tmp_path):
    run(phase0.lower_ttl, tmp_path / "z1")  # the state a week after Z1
    day = sh("new", "date +%Y%m%d").strip()
    backup = f"/usr/local/bind/etc/namedb-{day}"
    lowered = hashes("new", ZONES)
    assert "$TTL 300\n" in sh("new", f"cat {ZONES[0]}") and soa()[2] == f"{day}00"

    r = run(after.restore_ttl, tmp_path / "j", dry=True)
    assert f"would run: cp -a /usr/local/bind/etc/namedb {backup}" in r.output and "$TTL 3600" in r.output
    assert hashes("new", ZONES) == lowered and sh("new", f"test -e {backup} || echo none").strip() == "none"

    run(after.restore_ttl, tmp_path / "j")
    assert sh("new", f"grep -h TTL {backup}/localhost.zone {backup}/localhost.rev") == "$TTL 300\n$TTL 300\n"
    for path in ZONES:
        text = sh("new", f"cat {path}")
        assert "$TTL 3600\n" in text and f"{day}01" in text
    assert soa()[2] == f"{day}01"  # BIND restarted with the restored zone

    restored = hashes("new", ZONES + [backup])
    r = run(after.restore_ttl, tmp_path / "j")
    assert r.changes() == [] and "every zone already has TTL 3600 by value: unchanged" in r.output
    assert hashes("new", ZONES + [backup]) == restored


def test_a3_removes_the_build_accounts_and_their_sudoers_rules(fresh, tmp_path):
    assert sh("new", "getent passwd chikuwa1 chikuwa2 | wc -l").strip() == "2"
    assert "chikuwa1\tALL=(ALL:ALL) ALL" in sh("new", "cat /etc/sudoers")
    before = hashes("new", ACCOUNT_FILES)
    r = run(after.remove_build_users, tmp_path / "j", dry=True)
    assert "chikuwa1 (uid 1500), chikuwa2 (uid 1501)" in r.output and "would run: userdel -r chikuwa1" in r.output
    assert hashes("new", ACCOUNT_FILES) == before

    run(after.remove_build_users, tmp_path / "j")
    assert sh("new", "getent passwd chikuwa1 chikuwa2 | wc -l").strip() == "0"
    assert sh("new", "ls /home").split().count("chikuwa1") == 0 and "chikuwa2" not in sh("new", "ls /home")
    sudoers = sh("new", "cat /etc/sudoers")
    assert "chikuwa1\t" not in sudoers and "chikuwa2\t" not in sudoers and "root\tALL=(ALL:ALL) ALL" in sudoers
    assert sh("new", "visudo -c >/dev/null && echo ok").strip() == "ok"
    assert sh("new", "stat -c '%U:%G %a' /etc/sudoers").strip() == "root:root 440"
    assert sh("new", "pwck -r >/dev/null 2>&1; echo $?").strip() in ("0", "2")  # 2: warnings about other homes

    after_run = hashes("new", ACCOUNT_FILES)
    r = run(after.remove_build_users, tmp_path / "j")
    assert "no account matches chikuwa*: unchanged" in r.output and r.changes() == []
    assert hashes("new", ACCOUNT_FILES) == after_run
