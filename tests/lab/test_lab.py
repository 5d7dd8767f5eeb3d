"""Tests of the lab itself: real hosts in namespaces, real services; both profiles (LAB_PROFILE)."""

import os
import random
import re
import shlex
import socket
import struct
import subprocess
import sys
import time

import pytest

import lab.api as api
from lab import config as lab_config

pytestmark = pytest.mark.lab
MODERN = api.PROFILE == "modern"
modern_only = pytest.mark.skipif(not MODERN, reason="the modern profile's own (LAB_PROFILE=modern)")

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
        assert pid1 and ("systemd" if MODERN else "lab-init") in pid1[0]
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
    where = "/etc/ssh/sshd_config.d/50-local.conf" if MODERN else "/etc/ssh/sshd_config"
    assert new(f"grep -c '^PermitRootLogin no' {where}").strip() == "1"
    # old's root key is authorised on new, but PermitRootLogin no keeps it out until P1
    r = lab.exec("old", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@new-itpass.scitec.kobe-u.ac.jp true",
                 check=False)
    assert r.returncode != 0 and "Host key verification failed" not in r.stderr
    assert old("cat /var/qmail/control/locals").split()[:2] == ["localhost", "old.scitec.kobe-u.ac.jp"]
    assert "cps.scitec.kobe-u.ac.jp" not in new("cat /var/qmail/control/rcpthosts")
    assert "133.30.14.2" in new("cat /etc/resolv.conf")
    assert "ezmlm-return" not in new("cat /home/itpass/ml/ml-ctrl/bouncer")
    # BIND runs on old but is not on at boot (D2)
    assert old("pidof named || true").strip()
    if MODERN:
        assert unit("old", "named") == {"Id": "named.service", "UnitFileState": "disabled", "ActiveState": "active"}
    else:
        assert not old("ls /etc/rc2.d | grep bind || true").strip()
    # backup: the B1 scripts honour -n and log a success line
    out = lab.exec("backup", "cd /home/kobe && su kobe -c './itpass_rsync_epa2dennou.sh -n' && "
                   "tail -1 itpass_rsync_epa2dennnou_log/itpass_rsync_epa2dennnou.log").stdout
    assert "finished successfully" in out
    assert lab.exec("backup", "ls /home/kobe/mirror").stdout.strip() == ""   # dry run


def unit(host, name):
    """Id, UnitFileState and ActiveState of the unit NAME resolves to, as systemd inside HOST says."""
    out = api.exec(host, f"systemctl show -p Id,UnitFileState,ActiveState {shlex.quote(name)}").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def sshd_effective(host, addr, key):
    """KEY for a root connection from ADDR, as the host's own sshd -T works it out (Match blocks applied)."""
    out = api.exec(host, f"sshd -T -C user=root,host=client,addr={addr}").stdout
    return [line.split(None, 1)[1] for line in out.splitlines() if line.split(None, 1)[0] == key.lower()]


# ---- the modern profile: Debian 12 and 13 with systemd ---------------------------

def _keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, f"{prefix}{k}.")
    return out


def test_both_profiles_hosts_files_share_one_schema():
    """lab/hosts-modern.toml: the keys of lab/hosts.toml (and of the shipped hosts.toml), and the tool loads it."""
    import tomllib

    from fabfile import settings as settings_mod

    files = {name: lab_config.LAB_DIR / name for name in ("hosts.toml", "hosts-modern.toml")}
    tables = {name: tomllib.loads(path.read_text()) for name, path in files.items()}
    assert _keys(tables["hosts.toml"]) == _keys(tables["hosts-modern.toml"])
    shipped = tomllib.loads((lab_config.LAB_DIR.parent / "hosts.toml").read_text())
    assert set(shipped) == set(tables["hosts-modern.toml"])
    for path in files.values():
        assert sorted(settings_mod.load(path).hosts) == ["backup", "new", "old"]
    assert api.hosts_file() == files["hosts-modern.toml" if MODERN else "hosts.toml"]


@modern_only
@pytest.mark.usefixtures("seeded")
def test_modern_hosts_run_systemd_on_debian_12_and_13(lab):
    for h in lab.HOSTS:
        assert lab.exec(h, "cat /proc/1/comm").stdout.strip() == "systemd"
        assert lab.exec(h, "systemctl is-system-running").stdout.strip() == "running"
        assert lab.status()[h]["state"] == "up"
    release = {h: lab.exec(h, "cat /etc/debian_version").stdout.strip() for h in lab.HOSTS}
    assert re.fullmatch(r"13\.\d+", release["new"]), release
    assert re.fullmatch(r"12\.\d+", release["old"]) and re.fullmatch(r"12\.\d+", release["backup"])
    # one machine-id each (nspawn refuses an image without one; two alike would be one machine)
    ids = {lab.exec(h, "cat /etc/machine-id").stdout.strip() for h in lab.HOSTS}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@modern_only
@pytest.mark.usefixtures("seeded")
def test_modern_services_are_real_units(lab):
    # the runbook's names are aliases: openbsd-inetd is inetd.service, bind9 named.service while enabled
    assert unit("new", "openbsd-inetd") == {"Id": "inetd.service", "UnitFileState": "enabled", "ActiveState": "active"}
    assert lab.exec("new", "systemctl is-enabled openbsd-inetd").stdout.strip() == "alias"
    assert unit("new", "bind9") == {"Id": "named.service", "UnitFileState": "enabled", "ActiveState": "active"}
    assert unit("old", "bind9")["UnitFileState"] == ""            # named disabled: no alias at all
    for h, on in (("old", ["ssh", "apache2", "inetd", "qmail", "tcpserver", "cron"]),
                  ("new", ["ssh", "apache2", "named", "inetd", "qmail", "tcpserver", "cron"])):
        for name in on:
            assert unit(h, name) == {"Id": f"{name}.service", "UnitFileState": "enabled", "ActiveState": "active"}
    assert unit("backup", "apache2")["UnitFileState"] == "disabled"
    # the site's own mail pieces are native units under /etc/systemd/system, not SysV scripts
    for name in ("qmail", "tcpserver"):
        frag = lab.exec("new", f"systemctl show -p FragmentPath,SourcePath {name}").stdout
        assert f"FragmentPath=/etc/systemd/system/{name}.service" in frag and "SourcePath=\n" in frag + "\n"
        assert lab.exec("new", f"test -e /etc/init.d/{name} || echo none").stdout.strip() == "none"
    procs = {line.split()[0] for line in lab.exec("new", "ps -eo comm=").stdout.splitlines() if line.strip()}
    assert {"inetd", "named", "apache2", "sshd", "qmail-send", "tcpserver", "cron"} <= procs


@modern_only
@pytest.mark.usefixtures("seeded")
def test_modern_stock_configuration(lab):
    for h in lab.HOSTS:
        main = lab.exec(h, "cat /etc/ssh/sshd_config").stdout
        stock = lab.exec(h, "cat /usr/share/openssh/sshd_config").stdout   # the package's own template
        assert main.startswith(stock.rstrip("\n")), h
        assert [ln for ln in main.splitlines() if ln.strip() and not ln.startswith("#")][0] == \
            "Include /etc/ssh/sshd_config.d/*.conf"
    assert lab.exec("new", "cat /etc/ssh/sshd_config.d/50-local.conf").stdout.splitlines()[-1] == "PermitRootLogin no"
    assert "PermitRootLogin forced-commands-only" in lab.exec("new", "cat /etc/ssh/sshd_config").stdout
    conf = lab.exec("old", "cat /etc/bind/named.conf").stdout
    assert [ln.split()[0] for ln in conf.splitlines() if ln.strip() and not ln.startswith("//")] == ["include"] * 3
    zones = lab.exec("old", "named-checkconf -p /etc/bind/named.conf").stdout   # BIND's own reading
    assert 'zone "scitec.kobe-u.ac.jp"' in zones and 'file "/etc/bind/db.scitec.kobe-u.ac.jp"' in zones
    for h in ("old", "new"):
        out = lab.exec(h, "named-checkzone scitec.kobe-u.ac.jp /etc/bind/db.scitec.kobe-u.ac.jp").stdout
        assert "OK" in out.split()
    assert "tmpfs" in lab.exec("old", "findmnt -n -o FSTYPE /home/scratch/mnt").stdout


@modern_only
@pytest.mark.usefixtures("seeded")
def test_modern_sshd_keeps_old_out_and_lets_the_operator_in(lab):
    # sshd -T on new: the drop-in's "no" for old's address, the operator's Match block for the operator
    assert sshd_effective("new", OLD, "PermitRootLogin") == ["no"]
    assert sshd_effective("new", lab_config.BRIDGE_ADDR.ip, "PermitRootLogin") == ["without-password"]
    assert sshd_effective("new", "198.18.0.250", "PermitRootLogin") == ["forced-commands-only"]
    r = subprocess.run(lab.ssh_command("new") + ["-o", "BatchMode=yes", "id -u"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr
    r = lab.exec("old", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@new-itpass.scitec.kobe-u.ac.jp true",
                 check=False)
    assert r.returncode == 255 and "Permission denied" in r.stderr


# ---- the qmail-like queue: mail in flight --------------------------------------

def qread(host):
    return api.exec(host, "qmail-qread").stdout


def test_mail_for_a_domain_that_does_not_resolve_stays_queued_and_is_retried(fresh_lab):
    lab = fresh_lab
    lab.exec("old", "echo 1 > /var/qmail/control/lab-retry")
    lab.exec("old", "printf 'Subject: in flight\\n\\nhello\\n' | qmail-inject someone@faraway.example")
    # no resolver answers in the lab: the lookup fails temporarily, the message stays queued
    assert eventually(lambda: "retry 2:" in qread("old"), 30), qread("old")
    assert lab.qstat("old") == {"queued": 1, "unprocessed": 0}
    q = qread("old")
    assert "\tremote\tsomeone@faraway.example" in q and "#4.4.3" in q
    assert lab.exec("old", "ls /var/qmail/queue/failed").stdout.strip() == ""      # not bounced
    # once the name resolves (to new, which takes mail for it), the next retry delivers it there
    lab.exec("new", "echo faraway.example >> /var/qmail/control/rcpthosts && "
                    "echo faraway.example >> /var/qmail/control/locals && useradd -m someone")
    lab.exec("old", f"echo '{NEW} faraway.example' >> /etc/hosts")
    assert eventually(lambda: lab.qstat("old")["queued"] == 0, 30), qread("old")
    assert eventually(lambda: "Subject: in flight" in lab.exec("new", "cat /home/someone/Mailbox",
                                                                 check=False).stdout, 30)


def test_local_mail_is_delivered_and_a_stopped_queue_keeps_it(fresh_lab):
    lab = fresh_lab
    stop, start = (("systemctl stop qmail", "systemctl start qmail") if MODERN
                   else ("/etc/init.d/qmail stop", "/etc/init.d/qmail start"))
    lab.exec("old", f"{stop} >/dev/null 2>&1")
    lab.exec("old", "printf 'Subject: queued while stopped\\n\\nhi\\n' | qmail-inject yasuda@itpass.scitec.kobe-u.ac.jp")
    assert lab.qstat("old") == {"queued": 1, "unprocessed": 1}
    assert "\tlocal\tyasuda@itpass.scitec.kobe-u.ac.jp" in qread("old")
    lab.exec("old", f"{start} >/dev/null 2>&1")
    assert eventually(lambda: lab.qstat("old")["queued"] == 0, 30)
    assert "Subject: queued while stopped" in lab.exec("old", "cat /home/yasuda/Mailbox").stdout


# ---- fault primitives ---------------------------------------------------------

def ssh_run(cmd, host="new", timeout=60, **opts):
    extra = [x for k, v in opts.items() for x in ("-o", f"{k}={v}")]
    return subprocess.run(api.ssh_command(host) + ["-o", "BatchMode=yes", *extra, cmd],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.usefixtures("seeded")
def test_a_cut_link_hangs_connections_and_comes_back(lab):
    held = socket.create_connection((NEW, 22), timeout=5)
    held.recv(64)                                     # the banner: an established connection
    lab.link("new", up=False)
    try:
        assert not api.link_up("new")
        r = ssh_run("true", ConnectTimeout=3)
        assert r.returncode == 255 and "timed out" in r.stderr, r.stderr
        held.settimeout(3)
        held.sendall(b"SSH-2.0-probe\r\n")
        with pytest.raises(socket.timeout):               # no reset, no answer: it hangs
            held.recv(64)
        # the host does not notice: its eth0 keeps carrier and address
        inside = lab.exec("new", "ip -o link show dev eth0; ip -4 -o addr show dev eth0").stdout
        assert "LOWER_UP" in inside and "NO-CARRIER" not in inside and f"{NEW}/24" in inside
    finally:
        lab.link("new", up=True)
        held.close()
    assert api.link_up("new")
    r = ssh_run("hostname", ConnectTimeout=10)
    assert r.returncode == 0 and r.stdout.strip() == "ika-itpass", r.stderr


def fingerprint(ip):
    keys = subprocess.run(["ssh-keyscan", "-t", "ed25519", ip], capture_output=True, text=True, timeout=30).stdout
    out = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=keys, capture_output=True, text=True).stdout
    return out.split()[1]


def test_rekey_gives_a_host_a_new_host_key(fresh_lab):
    lab = fresh_lab
    before = fingerprint(BACKUP)
    try:
        new_fp = lab.rekey("backup")
        assert fingerprint(BACKUP) == new_fp != before
        r = ssh_run("true", host="backup")
        assert r.returncode == 255 and "Host key verification failed" in r.stderr
    finally:
        lab.reset(hosts=["backup"])
    assert fingerprint(BACKUP) == before and ssh_run("true", host="backup").returncode == 0


def test_reboot_without_waiting(lab):
    before = lab.status()["backup"]["boots"]
    lab.reboot("backup", wait=False)
    assert eventually(lambda: lab.status()["backup"]["boots"] == before + 1
                      and lab.status()["backup"]["state"] == "up" and port_open(BACKUP, 22), 60)


def eventually(fn, timeout=20.0, interval=0.3):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
        except (subprocess.SubprocessError, OSError):
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ---- boot, reboot, network ---------------------------------------------------

def test_disabled_service_stays_down_after_reboot(fresh_lab):
    lab = fresh_lab
    lab.exec("old", "systemctl disable --quiet apache2" if MODERN else "update-rc.d -f apache2 remove")
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
    lab.exec("old", lab_config.load()["network"]["restart"], check=False)   # what the hosts file says
    assert lab.address("old") == "198.18.0.23"
    assert "198.18.0.22/" not in lab.exec("old", "ip -4 -o addr").stdout
    assert banner("198.18.0.23", 22).startswith("SSH-2.0") and not port_open(OLD, 22)
    # survives a reboot (the file is the host's own)
    lab.reboot("old")
    assert lab.address("old") == "198.18.0.23"


def test_up_refuses_while_the_other_profile_runs(lab):
    other = "seed" if MODERN else "modern"
    r = subprocess.run([sys.executable, "-m", "lab.api", "up"], env={**os.environ, "LAB_PROFILE": other},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and f"the lab is up with LAB_PROFILE={lab.PROFILE}" in r.stderr
    assert all(lab.status()[h]["profile"] == lab.PROFILE and lab.state(h) == "up" for h in lab.HOSTS)


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
        assert "nspawn.py" not in ps and "--machine=sslab-" not in ps
        for h in lab.HOSTS:
            assert not any(cg.exists() for cg in lab_config.cgroups(h))
        route = subprocess.run(["ip", "route", "get", OLD], capture_output=True, text=True).stdout
        assert "sslab0" not in route
    finally:
        lab.up()        # the session fixture (and later test files) expect it up
