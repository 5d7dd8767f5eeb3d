"""Tests of the lab itself: real hosts in namespaces, real services."""

import random
import socket
import struct
import subprocess
import time

import pytest

pytestmark = pytest.mark.lab

OLD, NEW, BACKUP = "198.18.0.22", "198.18.0.21", "198.18.0.30"
ADDR = {"old": OLD, "new": NEW, "backup": BACKUP}


def banner(ip, port, send=None, timeout=5.0):
    with socket.create_connection((ip, port), timeout=timeout) as s:
        s.settimeout(timeout)
        if send:
            s.sendall(send)
        data = b""
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")


def dns_a(server, name, timeout=3.0):
    """A records of `name` asked of `server` (a tiny stub resolver, no recursion)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, 53))
        resp = s.recv(4096)
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", resp[:12])
    assert flags & 0xF == 0, f"rcode {flags & 0xF} for {name}"
    i = 12
    for _ in range(qd):
        while resp[i]:
            i += resp[i] + 1
        i += 5
    out = []
    for _ in range(an):
        if resp[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while resp[i]:
                i += resp[i] + 1
            i += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", resp[i:i + 10])
        i += 10
        if rtype == 1:
            out.append(socket.inet_ntoa(resp[i:i + rdlen]))
        i += rdlen
    return out


def http_get(ip):
    with socket.create_connection((ip, 80), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: itpass.scitec.kobe-u.ac.jp\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace")


def port_open(ip, port):
    try:
        socket.create_connection((ip, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def seeded(lab):
    """The lab in its seeded state once for this module's read-only tests."""
    lab.reset()
    return lab


# ---- services -----------------------------------------------------------

@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("host", ["old", "new", "backup"])
def test_ssh_answers_with_the_hosts_key(lab, host):
    assert banner(ADDR[host], 22).startswith("SSH-2.0-OpenSSH")
    r = subprocess.run(lab.ssh_command(host) + ["-o", "BatchMode=yes", "hostname"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == {"old": "itpass", "new": "ika-itpass", "backup": "dennou"}[host]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("host", ["old", "new"])
def test_http_serves_the_marker_page(lab, host):
    page = http_get(ADDR[host])
    assert " 200 " in page.splitlines()[0]
    assert f"itpass web on {host}" in page


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("host", ["old", "new"])
def test_dns_answers_the_site_zone(lab, host):
    assert dns_a(ADDR[host], "itpass.scitec.kobe-u.ac.jp") == [OLD]
    assert dns_a(ADDR[host], "ika-itpass.scitec.kobe-u.ac.jp") == [NEW]
    assert dns_a(ADDR[host], "new-itpass.scitec.kobe-u.ac.jp") == [NEW]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("host", ["old", "new"])
def test_pop3_and_smtp_banners(lab, host):
    pop = banner(ADDR[host], 110)
    assert pop.startswith("+OK") and "<" in pop and "@" in pop     # APOP timestamp
    smtp = banner(ADDR[host], 25)
    assert smtp.startswith("220 ")


@pytest.mark.usefixtures("seeded")
def test_mail_in_by_smtp_out_by_apop_and_the_list(lab):
    import poplib
    import smtplib
    with smtplib.SMTP(OLD, 25, timeout=10) as s:
        s.sendmail("op@example.org", ["itpass-ml@itpass.scitec.kobe-u.ac.jp"],
                   "Subject: lab list test\n\nhello\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("op@example.org", ["x@elsewhere.example"], "Subject: no\n\nno\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        p = poplib.POP3(OLD, 110, timeout=10)
        p.apop("yasuda", "apop-yasuda")
        subjects = [b"".join(p.top(i, 0)[1]) for i in range(1, p.stat()[0] + 1)]
        p.quit()
        if any(b"lab list test" in x for x in subjects):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the list message did not reach yasuda's Mailbox")


# ---- isolation --------------------------------------------------------------

@pytest.mark.usefixtures("seeded")
def test_hosts_differ_in_name_processes_and_address(lab):
    names = {h: lab.exec(h, "hostname").stdout.strip() for h in lab.HOSTS}
    assert names == {"old": "itpass", "new": "ika-itpass", "backup": "dennou"}
    for h in lab.HOSTS:
        ps = lab.exec(h, "ps -eo pid=,comm=").stdout.split("\n")
        procs = {line.split()[1] for line in ps if line.strip()}
        pid1 = [line for line in ps if line.split() and line.split()[0] == "1"]
        assert pid1 and "lab-init" in pid1[0]
        assert len(ps) < 60                                     # its own PID namespace
        assert ("apache2" in procs) == (h != "backup")
        addrs = lab.exec(h, "ip -4 -o addr show dev eth0").stdout
        assert ADDR[h] + "/24" in addrs
        assert lab.address(h) == ADDR[h]
    # mounts are the host's own: /proc shows its own pids, the scratch fs only on old
    assert "/home/scratch/mnt" in lab.exec("old", "cat /proc/mounts").stdout
    assert "/home/scratch/mnt" not in lab.exec("new", "cat /proc/mounts").stdout
    assert lab.exec("old", "stat -c %d /home").stdout != lab.exec("old", "stat -c %d /home/scratch/mnt").stdout


@pytest.mark.usefixtures("seeded")
def test_seeded_like_the_seed(lab):
    old = lambda c: lab.exec("old", c).stdout  # noqa: E731
    new = lambda c: lab.exec("new", c).stdout  # noqa: E731
    uids = {line.split(":")[0]: int(line.split(":")[2]) for line in old("cat /etc/passwd").splitlines()}
    assert {999, 1000, 29999, 30000} <= set(uids.values())
    assert old("stat -c '%U:%G %a' /usr/local/qpopper/pop.auth").strip() == "pop:mail 600"
    assert old("stat -c '%U:%G %a' /var/spool/cron/crontabs/yasuda").strip() == "yasuda:crontab 600"
    assert int(old("find /home -xdev -type f | wc -l")) > 2000
    assert old("find /home -xdev -type l | wc -l").strip() != "0"
    assert "日本語" in old("ls '/home/yasuda/odd names'")
    assert old("ls /home").split() >= ["aquota.user", "gate"] and "chikuwa1" not in old("ls /home")
    assert "chikuwa1" in new("ls /home")
    assert new("visudo -c -q && echo ok").strip() == "ok"
    assert "chikuwa1" in new("cat /etc/sudoers")
    assert new("sshd -t && echo ok").strip() == "ok"
    assert new("grep -c '^PermitRootLogin no' /etc/ssh/sshd_config").strip() == "1"
    # old's root key is authorised on new, but PermitRootLogin no keeps it out until P1
    r = lab.exec("old", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@new-itpass.scitec.kobe-u.ac.jp true",
                 check=False)
    assert r.returncode != 0 and "Host key verification failed" not in r.stderr
    assert old("cat /var/qmail/control/locals").split()[:2] == ["localhost", "old.scitec.kobe-u.ac.jp"]
    assert "cps.scitec.kobe-u.ac.jp" not in new("cat /var/qmail/control/rcpthosts")
    assert "133.30.14.2" in new("cat /etc/resolv.conf")
    assert "ezmlm-return" not in new("cat /home/itpass/ml/ml-ctrl/bouncer")
    # BIND runs on old but is not on at boot (D2)
    assert old("pidof named || true").strip() and not old("ls /etc/rc2.d | grep bind || true").strip()
    # backup: the B1 scripts honour -n and log a success line
    out = lab.exec("backup", "cd /home/kobe && su kobe -c './itpass_rsync_epa2dennou.sh -n' && "
                   "tail -1 itpass_rsync_epa2dennnou_log/itpass_rsync_epa2dennnou.log").stdout
    assert "finished successfully" in out
    assert lab.exec("backup", "ls /home/kobe/mirror").stdout.strip() == ""   # dry run


# ---- boot, reboot, network ---------------------------------------------------

def test_disabled_service_stays_down_after_reboot(fresh_lab):
    lab = fresh_lab
    lab.exec("old", "update-rc.d -f apache2 remove")
    lab.reboot("old")
    assert lab.status()["old"]["boots"] == 2
    assert "apache2" not in lab.exec("old", "ps -eo comm=").stdout.split()
    assert not port_open(OLD, 80)
    assert port_open(OLD, 22) and port_open(NEW, 80)   # the rest is up


def test_reboot_typed_inside_the_host(lab):
    before = lab.status()["backup"]["boots"]
    lab.exec("backup", "reboot", check=False)
    deadline = time.monotonic() + 60
    while lab.status()["backup"]["boots"] == before or lab.status()["backup"]["state"] != "up":
        assert time.monotonic() < deadline, "backup did not come back"
        time.sleep(0.2)
    assert banner(BACKUP, 22).startswith("SSH-2.0")


def test_networking_restart_moves_the_address(fresh_lab):
    lab = fresh_lab
    lab.exec("old", "sed -i 's/198.18.0.22/198.18.0.23/' /etc/network/interfaces")
    lab.exec("old", "/etc/init.d/networking restart", check=False)
    assert lab.address("old") == "198.18.0.23"
    assert "198.18.0.22/" not in lab.exec("old", "ip -4 -o addr").stdout
    assert banner("198.18.0.23", 22).startswith("SSH-2.0") and not port_open(OLD, 22)
    # survives a reboot (the file is the host's own)
    lab.reboot("old")
    assert lab.address("old") == "198.18.0.23"


def test_conflict_fixture(lab):
    try:
        lab.reset(conflict=True)
        line = lab.exec("new", "getent passwd morikawa").stdout
        assert line.split(":")[2] == "2003"
        assert lab.exec("old", "getent passwd morikawa").stdout.split(":")[2] == "1003"
    finally:
        lab.reset()


def test_down_leaves_nothing_behind(lab):
    lab.down()
    try:
        assert lab.leftovers() == []
        assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.strip() == ""
        assert subprocess.run(["ip", "link", "show", "sslab0"], capture_output=True).returncode != 0
        mounts = open("/proc/self/mountinfo").read()
        assert "serverswap-lab" not in mounts and "sslab-" not in mounts
        ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
        assert "lab-init" not in ps and "supervisor.py" not in ps
        route = subprocess.run(["ip", "route", "get", OLD], capture_output=True, text=True).stdout
        assert "sslab0" not in route
    finally:
        lab.up()        # the session fixture (and later test files) expect it up
