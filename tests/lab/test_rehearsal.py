"""End to end: the whole rehearsal on the lab, then the result checked from outside.

Nothing here asks the tool what it did: the hosts are inspected directly
(lab.api.exec inside each host, DNS and SSH from the operator's side).
"""

import os
import subprocess
from pathlib import Path

import dns.resolver
import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def fab(*args, timeout=900, **extra_env):
    import lab.api as api

    env = dict(os.environ, SERVERSWAP_HOSTS=str(api.hosts_file()), SERVERSWAP_YES="1", **extra_env)
    return subprocess.run(["fab", *args], cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def inside(host, cmd):
    import lab.api as api

    return api.exec(host, cmd, check=False).stdout


def resolve(server, name):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.lifetime = 5
    return sorted(r.address for r in resolver.resolve(name, "A"))


@pytest.fixture(scope="module")
def rehearsed(lab):
    import lab.api as api

    api.reset()
    journal = REPO / "lab" / "state" / "journal.jsonl"
    journal.unlink(missing_ok=True)
    passwd_before = inside("new", "cat /etc/passwd")
    result = fab("rehearse", "--no-ttl-wait")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"api": api, "out": result.stdout, "passwd_before": passwd_before}


def test_names_and_addresses_are_swapped(rehearsed):
    api = rehearsed["api"]
    assert inside("old", "hostname").strip() == "old-itpass"
    assert inside("new", "hostname").strip() == "itpass"
    assert api.address("old") == "198.18.0.21"
    assert api.address("new") == "198.18.0.22"
    assert "198.18.0.22" in inside("new", "cat /etc/network/interfaces")


@pytest.mark.parametrize("server", ["198.18.0.21", "198.18.0.22"])
def test_dns_answers_as_v6_says(rehearsed, server):
    assert resolve(server, "itpass.scitec.kobe-u.ac.jp") == ["198.18.0.22"]
    assert resolve(server, "old-itpass.scitec.kobe-u.ac.jp") == ["198.18.0.21"]
    assert resolve(server, "new-itpass.scitec.kobe-u.ac.jp") == ["198.18.0.22"]


def test_old_services_stay_off_after_a_reboot_and_new_serves(rehearsed):
    api = rehearsed["api"]
    api.reboot("old")
    procs_old = inside("old", "ps -eo comm")
    assert "apache2" not in procs_old and "inetd" not in procs_old
    assert "named" in procs_old  # D2: BIND on at boot on old
    import lab.api as api

    for service in ("apache2", "openbsd-inetd"):
        if api.PROFILE == "modern":  # systemd: the unit the name resolves to is disabled (rc links do not count)
            assert "UnitFileState=disabled" in inside("old", f"systemctl show -p UnitFileState {service}")
        else:
            assert inside("old", f"ls /etc/rc2.d/ | grep -c {service} || true").strip() == "0"
    procs_new = inside("new", "ps -eo comm")
    for daemon in ("apache2", "named", "inetd", "tcpserver"):
        assert daemon in procs_new


def test_accounts_on_new_follow_the_uid_range(rehearsed):
    passwd = {line.split(":")[0]: int(line.split(":")[2]) for line in inside("new", "cat /etc/passwd").splitlines() if line}
    assert passwd["tanaka"] == 29999 and passwd["yasuda"] == 1002
    assert "oldsys" not in passwd and "visitor" not in passwd  # 999 and 30000 stay behind
    for line in rehearsed["passwd_before"].splitlines():
        name = line.split(":")[0]
        assert name in passwd  # new's own accounts survive (chikuwa* until A3)
    shadow_names = {l.split(":")[0] for l in inside("new", "cat /etc/shadow").splitlines()}
    assert {"tanaka", "yasuda"} <= shadow_names
    assert inside("new", "pwck -r >/dev/null 2>&1; grpck -r >/dev/null 2>&1; echo ok").strip() == "ok"
    assert inside("new", "test -e /etc/shadow~ && echo yes").strip() == "yes"


def test_home_copied_with_the_seeds_excludes(rehearsed):
    old_files = inside("old", "cd /home && find yasuda -type f | sort")
    new_files = inside("new", "cd /home && find yasuda -type f | sort")
    assert old_files and old_files == new_files
    assert inside("new", "test -d /home/chikuwa1 && echo kept").strip() == "kept"
    assert inside("new", "ls /home/scratch/mnt 2>/dev/null | wc -l").strip() == "0"  # -x kept the mount out
    assert inside("new", "test -e /home/aquota.user && echo copied || echo excluded").strip() == "excluded"


def test_root_login_closed_on_new_and_old_keys_renamed(rehearsed):
    config = inside("new", "sshd -T -C addr=198.18.0.21,user=root,host=x | grep -i '^permitrootlogin'")
    assert config.strip().lower() == "permitrootlogin no"
    attempt = inside("old", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@198.18.0.22 true; echo rc=$?")
    assert "rc=0" not in attempt
    assert inside("old", "test -e /root/.ssh/authorized_keys && echo there || echo renamed").strip() == "renamed"
    assert inside("old", "head -c 8 /root/.ssh/authorized_keys.bk").startswith("command=")


def test_mail_config_and_report(rehearsed):
    assert inside("old", "cat /var/qmail/control/rcpthosts") == "localhost\n"
    assert "cps.scitec.kobe-u.ac.jp" in inside("new", "cat /var/qmail/control/rcpthosts")
    assert "ezmlm-return -D '/home/itpass/ml/ml-ctrl'" in inside("new", "cat /home/itpass/ml/ml-ctrl/bouncer")
    report = REPO / "lab" / "state" / "report.html"
    assert report.exists() and "Service window" in report.read_text()


def test_a_phase_run_again_changes_nothing(rehearsed):
    result = fab("phase3.all", SERVERSWAP_FORCE="1")  # force: run the done steps again, not skip them
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "changing" not in result.stdout
    assert "unchanged" in result.stdout
