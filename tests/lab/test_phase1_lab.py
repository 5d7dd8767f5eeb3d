"""S1-S4 on the lab: the resolver check, web and mail stopped on old, the users' sessions ended."""

import subprocess

import pytest
from invoke.exceptions import Exit
from steprun import eventually, hashes, programs, run, sh

from fabfile import phase1

pytestmark = pytest.mark.lab

RESOLV = ["/etc/resolv.conf"]


# ---- S1 ----------------------------------------------------------------------


def test_s1_passes_on_the_seeded_resolver_and_edits_nothing(fresh, tmp_path):
    before = hashes("new", RESOLV)
    for dry in (True, False, False):
        r = run(phase1.check_resolver, tmp_path / "j", dry=dry)
        assert "as hosts.toml says" in r.output and r.changes() == []
    assert hashes("new", RESOLV) == before


def test_s1_reports_a_mismatch_with_the_fix_and_does_not_edit(fresh, tmp_path):
    sh("new", "cp -a /etc/resolv.conf /root/resolv.conf.keep && sed -i '/133.30.8.2/d; s/^search .*/search lab.example/' /etc/resolv.conf")
    try:
        before = hashes("new", RESOLV)
        with pytest.raises(Exit) as info:
            run(phase1.check_resolver, tmp_path / "j")
        message = info.value.message
        assert "nameserver(s) missing: 133.30.8.2" in message and "search is lab.example" in message
        assert "fix: make it say: search scitec.kobe-u.ac.jp | nameserver 133.30.14.2" in message
        assert hashes("new", RESOLV) == before
    finally:
        sh("new", "cp -a /root/resolv.conf.keep /etc/resolv.conf")


# ---- S2 ----------------------------------------------------------------------


def test_s2_stops_apache_on_old(fresh, tmp_path):
    assert "apache2" in programs("old")
    r = run(phase1.stop_web, tmp_path / "j", dry=True)
    assert "would run: /etc/init.d/apache2 stop" in r.output and "apache2" in programs("old")
    run(phase1.stop_web, tmp_path / "j")
    assert eventually(lambda: "apache2" not in programs("old"))
    r = run(phase1.stop_web, tmp_path / "j")
    assert "apache2: stopped, unchanged" in r.output and r.changes() == []


# ---- S3 ----------------------------------------------------------------------


def login(user, *command, tty=True):
    """A real SSH login of `user` on old (operator key put in its authorized_keys), left running."""
    import lab.api as api

    home = sh("old", f"getent passwd {user} | cut -d: -f6").strip()
    key = (api.hosts_file().parent / "state" / "operator_key.pub").read_text().strip()
    sh("old", f"mkdir -p {home}/.ssh && echo '{key}' > {home}/.ssh/authorized_keys && chown -R {user}: {home}/.ssh")
    argv = api.ssh_command("old", user) + (["-tt"] if tty else []) + list(command)
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def user_procs(user):
    return sh("old", f"ps -o pid=,tty=,args= -u {user} || true").strip().splitlines()


def daemons():
    """PID and command of old's daemons (the sshd listener, cron, inetd, qmail, tcpserver, named)."""
    lines = sh("old", "ps -eo pid=,args=").splitlines()
    marks = ("[listener]", "/usr/sbin/cron", "/usr/sbin/inetd", "qmail-send", "tcpserver", "named")
    return sorted(line.strip() for line in lines if any(m in line for m in marks))


def test_s3_ends_the_users_sessions_not_root_not_daemons(fresh, tmp_path):
    morikawa = login("morikawa", "bash", "-l")
    yasuda = login("yasuda", "sleep", "600", tty=False)
    sh("old", "su kawahara -s /bin/sh -c 'setsid sh -c \"sleep 600; true\" </dev/null >/dev/null 2>&1 &'")  # like a cron job
    assert eventually(lambda: len(user_procs("morikawa")) >= 2 and len(user_procs("yasuda")) >= 2)
    daemons_before = daemons()
    r = run(phase1.end_sessions, tmp_path / "j", dry=True)
    assert "will be killed" in r.output and "morikawa" in r.output and "yasuda" in r.output
    assert "kawahara" not in r.output and "would run: kill -TERM" in r.output
    assert morikawa.poll() is None and yasuda.poll() is None

    r = run(phase1.end_sessions, tmp_path / "j")
    assert "sshd: morikawa@pts" in r.output and "sshd: yasuda@notty" in r.output
    assert eventually(lambda: morikawa.poll() is not None and yasuda.poll() is not None, 15)
    assert user_procs("morikawa") == [] and user_procs("yasuda") == []
    assert len(user_procs("kawahara")) == 2  # not a login: left alone
    assert ("S3", "done") in r.events
    # the daemons are untouched: same processes as before
    assert daemons() == daemons_before

    r = run(phase1.end_sessions, tmp_path / "j")
    assert "no user sessions: unchanged" in r.output and r.changes() == []


def test_s3_never_kills_the_operators_own_session(fresh, tmp_path):
    # The operator connects as morikawa this time; morikawa also has another login that must go.
    other = login("morikawa", "bash", "-l")
    assert eventually(lambda: len(user_procs("morikawa")) >= 2)
    r = run(phase1.end_sessions, tmp_path / "j", hosts={"old": {"user": "morikawa"}}, overrides={"sessions": {"spare_users": []}})
    assert ("S3", "done") in r.events  # the step's own connection survived to the end
    assert eventually(lambda: other.poll() is not None, 15)
    killed = r.output.split("will be killed:")[1]
    assert "bash -c echo $$" not in killed and "@notty" not in killed  # the operator's connection is not listed


# ---- S4 and S2+S4 --------------------------------------------------------------


def test_s4_stops_qmail_smtp_and_inetd(fresh, tmp_path):
    assert {"tcpserver", "inetd", "qmail-send"} <= programs("old")
    r = run(phase1.stop_mail, tmp_path / "j", dry=True)
    assert r.output.count("would run:") == 3 and {"tcpserver", "inetd", "qmail-send"} <= programs("old")
    run(phase1.stop_mail, tmp_path / "j")
    assert eventually(lambda: not {"tcpserver", "inetd", "qmail-send"} & programs("old"))
    r = run(phase1.stop_mail, tmp_path / "j")
    assert r.output.count("stopped, unchanged") == 3


def test_stop_services_after_s2_and_s4_is_unchanged(fresh, tmp_path):
    r = run(phase1.stop_services, tmp_path / "j")
    assert r.output.count("stopped, unchanged") == 4 and r.changes() == []
