"""D1-D5 and N1-N3 on the lab, in runbook order on one freshly seeded lab.

Each test: the state before, a dry run that changes no file, the run, the
state after (seen from outside with lab.api.exec), a second run: unchanged.
"""

import pytest
from steprun import eventually, hashes, programs, run, sh, wait_booted

from fabfile import phase3

pytestmark = pytest.mark.lab

ETC = "/usr/local/bind/etc"
CONTROL = ["/var/qmail/control/locals", "/var/qmail/control/rcpthosts"]
BOUNCER = "/home/itpass/ml/ml-ctrl/bouncer"


def boot(host, service):
    """(S links in rc2.d, init script mode)"""
    links = sh(host, f"ls /etc/rc2.d | grep -c '^S..{service}$' || true").strip()
    return int(links), sh(host, f"stat -c %a /etc/init.d/{service}").strip()


def today(host="old"):
    return sh(host, "date +%Y%m%d").strip()


def test_d1_backs_up_namedb_once_a_day(fresh, tmp_path):
    target = f"{ETC}/namedb-{today()}"
    assert sh("old", f"ls {ETC}").split() == ["named.conf", "namedb"]
    r = run(phase3.backup_bind, tmp_path / "j", dry=True)
    assert f"would run: cp -a {ETC}/namedb {target}" in r.output
    assert sh("old", f"ls {ETC}").split() == ["named.conf", "namedb"]
    run(phase3.backup_bind, tmp_path / "j")
    assert sh("old", f"diff -r {ETC}/namedb {target} && stat -c '%U %a' {target}").strip() == "root 755"
    before = hashes("old", [target])
    r = run(phase3.backup_bind, tmp_path / "j")
    assert "already there (today's backup), unchanged" in r.output and r.changes() == []
    assert hashes("old", [target]) == before


def test_d2_bind_on_at_boot(fresh, tmp_path):
    assert boot("old", "bind") == (0, "755")
    r = run(phase3.bind_at_boot, tmp_path / "j", dry=True)
    assert "would run: update-rc.d bind defaults" in r.output and boot("old", "bind") == (0, "755")
    run(phase3.bind_at_boot, tmp_path / "j")
    assert boot("old", "bind") == (1, "755")
    r = run(phase3.bind_at_boot, tmp_path / "j")
    assert "bind: on at boot, unchanged" in r.output and r.changes() == []


def test_d4_qmail_on_old_accepts_only_localhost_and_runs(fresh, tmp_path):
    sh("old", "/etc/init.d/qmail stop >/dev/null")  # as S4 left it
    assert "itpass.scitec.kobe-u.ac.jp" in sh("old", f"cat {CONTROL[0]}")
    before = hashes("old", CONTROL)
    r = run(phase3.qmail_local_only, tmp_path / "j", dry=True)
    assert "would change" in r.output and "would run: /etc/init.d/qmail start" in r.output
    assert hashes("old", CONTROL) == before and "qmail-send" not in programs("old")
    run(phase3.qmail_local_only, tmp_path / "j")
    for path in CONTROL:
        assert sh("old", f"cat {path}") == "localhost\n"
    assert eventually(lambda: "qmail-send" in programs("old"))
    after = hashes("old", CONTROL)
    r = run(phase3.qmail_local_only, tmp_path / "j")
    assert r.changes() == [] and hashes("old", CONTROL) == after
    assert "control files unchanged: unchanged" in r.output


def test_d3_services_off_at_boot_the_seeds_way(fresh, tmp_path):
    assert boot("old", "apache2") == (1, "755") and boot("old", "openbsd-inetd") == (1, "755")
    r = run(phase3.disable_services, tmp_path / "j", dry=True)
    assert r.output.count("would run: update-rc.d -f") == 2 and boot("old", "apache2") == (1, "755")
    run(phase3.disable_services, tmp_path / "j")
    assert boot("old", "apache2") == (0, "644") and boot("old", "openbsd-inetd") == (0, "644")
    r = run(phase3.disable_services, tmp_path / "j")
    assert r.output.count("off at boot, unchanged") == 2 and r.changes() == []


def test_d5_after_a_reboot_disabled_services_stay_down_and_bind_runs(fresh, tmp_path):
    import lab.api as api

    boots = api.status()["old"]["boots"]
    r = run(phase3.check_old_after_reboot, tmp_path / "j", dry=True)
    assert "would reboot" in r.output and api.status()["old"]["boots"] == boots
    r = run(phase3.check_old_after_reboot, tmp_path / "j")
    assert api.status()["old"]["boots"] == boots + 1
    assert "none of apache2, openbsd-inetd runs, listens or answers on 80, 110; bind runs" in r.output
    assert ("D5", "done") in r.events
    wait_booted("old")
    seen = programs("old")
    assert not {"apache2", "inetd"} & seen and "named" in seen
    assert "qmail-send" in seen  # qmail is still on at boot on old: it sends the log mail


def test_n1_qmail_control_on_new(fresh, tmp_path):
    wanted = "\n".join(["localhost", "ika-itpass.scitec.kobe-u.ac.jp", "itpass.scitec.kobe-u.ac.jp",
                        "epa.scitec.kobe-u.ac.jp", "aoe.scitec.kobe-u.ac.jp", "cps.scitec.kobe-u.ac.jp"]) + "\n"
    assert sh("new", f"cat {CONTROL[0]}") != wanted
    qmail_pid = sh("new", "cat /run/qmail-send.pid").strip()
    before = hashes("new", CONTROL)
    r = run(phase3.qmail_control, tmp_path / "j", dry=True)
    assert hashes("new", CONTROL) == before and sh("new", "cat /run/qmail-send.pid").strip() == qmail_pid
    run(phase3.qmail_control, tmp_path / "j")
    for path in CONTROL:
        assert sh("new", f"cat {path}") == wanted
    r = run(phase3.qmail_control, tmp_path / "j")
    assert "rcpthosts" in r.output  # qmail-showctl's output is shown
    # told to reread (HUP), not restarted: the same qmail-send, and the added domain is local now
    assert sh("new", "cat /run/qmail-send.pid").strip() == qmail_pid and "qmail-send" in programs("new")
    sh("new", "printf 'To: itpadmin@cps.scitec.kobe-u.ac.jp\\nSubject: n1-hup\\n\\nhi\\n' | qmail-inject itpadmin@cps.scitec.kobe-u.ac.jp")
    assert eventually(lambda: "n1-hup" in sh("new", "cat /home/itpadmin/Mailbox", check=False), timeout=20)  # a user new has
    assert r.changes() == [] and "unchanged" in r.output


def test_n2_bouncer_holds_exactly_the_lines(fresh, tmp_path):
    wanted = ("&itpadmin@itpass.scitec.kobe-u.ac.jp\n|/usr/local/ezmlm/bin/ezmlm-weed\n"
              "|/usr/local/ezmlm/bin/ezmlm-return -D '/home/itpass/ml/ml-ctrl'\n")
    assert sh("new", f"cat {BOUNCER}") != wanted
    before = hashes("new", [BOUNCER])
    run(phase3.bouncer, tmp_path / "j", dry=True)
    assert hashes("new", [BOUNCER]) == before
    run(phase3.bouncer, tmp_path / "j")
    assert sh("new", f"cat {BOUNCER}") == wanted
    assert sh("new", f"stat -c '%U:%G %a' {BOUNCER}").strip() == "itpass:itpass 644"
    r = run(phase3.bouncer, tmp_path / "j")
    assert r.changes() == [] and f"{BOUNCER}: unchanged" in r.output


def test_n3_services_on_at_boot_and_running_on_new(fresh, tmp_path):
    sh("new", "/etc/init.d/apache2 stop >/dev/null 2>&1; cd /etc/init.d && update-rc.d -f apache2 remove >/dev/null && chmod 644 apache2")
    assert boot("new", "apache2") == (0, "644") and "apache2" not in programs("new")
    r = run(phase3.enable_services, tmp_path / "j", dry=True)
    assert "would run: update-rc.d apache2 defaults" in r.output and boot("new", "apache2") == (0, "644")
    run(phase3.enable_services, tmp_path / "j")
    assert boot("new", "apache2") == (1, "755") and eventually(lambda: "apache2" in programs("new"))
    for service in ("bind", "tcpserver", "openbsd-inetd"):
        assert boot("new", service) == (1, "755")
    r = run(phase3.enable_services, tmp_path / "j")
    assert r.output.count("on at boot, unchanged") == 4 and r.output.count("running, unchanged") == 4
    assert r.changes() == []


def test_phase3_default_after_all_steps_is_unchanged(fresh, tmp_path):
    r = run(phase3.all_, tmp_path / "j")
    assert r.changes() == []
    assert {e[0] for e in r.events if e[1] == "done"} == {"D1", "D2", "D4", "D3", "N1", "N2", "N3"}


ETCH_STYLE = """#!/bin/sh
# an init script of the etch era: no status action
NAME=labsleeper
DAEMON=/usr/local/bin/$NAME
case "$1" in
  start) start-stop-daemon --start --quiet --background --exec $DAEMON -- 600 ;;
  stop) start-stop-daemon --stop --quiet --oknodo --exec $DAEMON ;;
  *) echo "Usage: /etc/init.d/labsleeper {start|stop}"; exit 1 ;;
esac
exit 0
"""


def test_sysv_without_status_falls_back_to_pidof_of_its_daemon(fresh, tmp_path):
    from steprun import settings

    from fabfile.services import services_of, unit
    from fabfile.session import Session

    fresh.exec("old", "cp /bin/sleep /usr/local/bin/labsleeper && cat > /etc/init.d/labsleeper && chmod 755 /etc/init.d/labsleeper",
               input=ETCH_STYLE)
    session = Session(settings(tmp_path / "j"))
    try:
        host = session.host("old")
        assert services_of(host).name == "sysvinit" and not unit(host, "labsleeper").running
        sh("old", "/etc/init.d/labsleeper start")
        assert eventually(lambda: unit(host, "labsleeper", fresh=True).running)
        assert sh("old", "/etc/init.d/labsleeper status; echo rc=$?", check=False).endswith("rc=1\n")  # what `status` would have said
        sh("old", "/etc/init.d/labsleeper stop")
        assert eventually(lambda: not unit(host, "labsleeper", fresh=True).running)
    finally:
        session.close()
        sh("old", "/etc/init.d/labsleeper stop; rm -f /etc/init.d/labsleeper /usr/local/bin/labsleeper", check=False)
