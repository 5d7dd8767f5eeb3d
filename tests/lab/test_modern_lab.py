"""The silent wrongs of Debian's stock systemd hosts, on the modern profile (LAB_PROFILE=modern): each checked from outside.

- P1/C1: a drop-in `50-local.conf` says `PermitRootLogin no` and wins over an appended line;
- N3: `openbsd-inetd` is an alias of inetd.service (is-enabled exits 0 for "alias");
- D5: inetd's process is `inetd`, not `openbsd-inetd`; a disabled POP service must not answer on 110;
- Z1: named.conf holds only includes; the zones are found through them, and named answers the new TTL;
- D3: a native unit is disabled by the init system, not by update-rc.d + chmod.
"""

import os
import socket

import dns.message
import dns.query
import dns.rdatatype
import pytest
from steprun import Night, sh, wait_booted

from fabfile import phase0, phase3, prep
from fabfile import settings as settings_mod

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.environ.get("LAB_PROFILE") != "modern", reason="the modern profile only (LAB_PROFILE=modern)")]


def unit_state(host, unit):
    return sh(host, f"systemctl show -p UnitFileState --value {unit}").strip()


def permit_for_old(lab):
    s = settings_mod.load(lab.hosts_file())
    old, new = s.by_role("old"), s.by_role("new")
    out = sh("new", f"sshd -T -C user=root,host={old.before.ip},addr={old.before.ip},laddr={new.before.ip},lport=22")
    return next(line.split()[1] for line in out.splitlines() if line.startswith("permitrootlogin "))


def port_answers(address, port):
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def night(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    return Night(tmp_path, lab)


def test_p1_edits_the_drop_in_that_wins_and_p4_restores_it(lab, night):
    main, dropin = "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/50-local.conf"
    before = {p: sh("new", f"sha256sum {p}") for p in (main, dropin)}
    assert permit_for_old(lab) == "no"
    night.run(prep.allow_root_login)
    assert permit_for_old(lab) in ("without-password", "prohibit-password")       # what sshd itself says
    assert sh("new", f"sha256sum {dropin}") != before[dropin]                       # edited where the value lives
    night.run(prep.restore_root_login)
    assert permit_for_old(lab) == "no" and {p: sh("new", f"sha256sum {p}") for p in (main, dropin)} == before


def test_n3_enables_the_real_unit_behind_the_alias(lab, night):
    sh("new", "systemctl disable --quiet inetd.service")
    assert sh("new", "systemctl is-enabled openbsd-inetd; echo rc=$?", check=False).split()[-1] == "rc=0"   # the trap
    assert unit_state("new", "inetd.service") == "disabled"
    r = night.run(phase3.enable_services)
    assert unit_state("new", "inetd.service") == "enabled" and "unit inetd.service" in r.output


def test_d3_disables_units_and_d5_proves_pop_is_off_from_outside(lab, night):
    night.run(phase3.bind_at_boot)        # D2 first, as in the runbook: old's named is off at boot as seeded
    night.run(phase3.disable_services)
    assert unit_state("old", "apache2.service") == "disabled" and unit_state("old", "inetd.service") == "disabled"
    night.run(phase3.check_old_after_reboot)
    assert not port_answers(lab.address("old"), 110) and not port_answers(lab.address("old"), 80)


def test_d5_reports_inetd_coming_back(lab, night):
    night.run(phase3.bind_at_boot)
    night.run(phase3.disable_services)
    sh("old", "systemctl enable --quiet inetd.service")        # someone turned it back on
    with pytest.raises(Exception) as info:
        night.run(phase3.check_old_after_reboot)
    assert "inetd" in str(info.value) and "110" in str(info.value)


def test_z1_finds_the_zones_through_named_conf_includes_and_named_answers_the_ttl(lab, night):
    assert "include" in sh("new", "cat /etc/bind/named.conf") and "zone" not in sh("new", "grep -v '^//' /etc/bind/named.conf")
    night.run(phase0.lower_ttl)
    s = settings_mod.load(lab.hosts_file())
    zone = s.checks.mail_domain.split(".", 1)[1]
    response, _ = dns.query.udp_with_fallback(dns.message.make_query(zone + ".", dns.rdatatype.SOA), lab.address("new"), timeout=5)
    assert response.answer and response.answer[0].ttl <= s.ttl.lowered
