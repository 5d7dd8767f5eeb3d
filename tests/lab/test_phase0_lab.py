"""Z1 on the lab: $TTL lowered on new, serials bumped, named-checkzone, BIND answers the new serial."""


import pytest
from steprun import eventually, hashes, run, sh, wait_booted

from fabfile import phase0

pytestmark = pytest.mark.lab

D = "/usr/local/bind/etc/namedb"
FILES = [f"{D}/localhost.zone", f"{D}/localhost.rev"]


@pytest.fixture(scope="module")
def fresh(lab):
    lab.reset()
    wait_booted("new")
    return lab


def soa_serial(zone="scitec.kobe-u.ac.jp"):
    answer = eventually(lambda: sh("new", f"dig +short +time=1 @127.0.0.1 {zone} SOA", check=False).split())
    return answer[2] if answer else None


def test_z1_dry_run_changes_nothing(fresh, tmp_path):
    before = hashes("new", FILES)
    r = run(phase0.lower_ttl, tmp_path / "j", dry=True)
    assert "would change" in r.output and "$TTL 300" in r.output
    assert "would run: /etc/init.d/bind reload" in r.output     # SIGHUP: the lab's named.conf has no rndc controls
    assert hashes("new", FILES) == before
    assert r.changes() == []


def test_z1_lowers_the_ttl_and_bumps_the_serial(fresh, tmp_path):
    for path in FILES:
        assert "$TTL 3600\n" in sh("new", f"cat {path}")
    assert soa_serial() == "2009102001"
    r = run(phase0.lower_ttl, tmp_path / "j")
    today = sh("new", "date +%Y%m%d").strip()
    for path in FILES:
        text = sh("new", f"cat {path}")
        assert "$TTL 300\n" in text and f"{today}00" in text
        assert sh("new", f"stat -c '%a %U' {path}").split() == ["644", "root"]
    assert {c["path"] for c in r.changes() if c.get("path")} == set(FILES)
    assert all(c["backup"] for c in r.changes() if c.get("path"))
    # BIND serves the new serial (reloaded by SIGHUP: the lab's named.conf has no rndc controls)
    assert soa_serial() == f"{today}00"
    assert sh("new", "dig +short @127.0.0.1 -x 198.18.0.22").strip() == "itpass.scitec.kobe-u.ac.jp."
    assert ("Z1", "done") in r.events


def test_z1_second_run_is_unchanged(fresh, tmp_path):
    before = hashes("new", FILES)
    r = run(phase0.lower_ttl, tmp_path / "j")
    assert hashes("new", FILES) == before
    assert r.changes() == [] and "unchanged" in r.output
    assert "restart" not in r.output
