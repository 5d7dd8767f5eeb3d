"""Failures on real hosts: what breaks must leave the hosts as they were (issue 4)."""

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from invoke.exceptions import Exit
from steprun import eventually, hashes, programs, run, sh

from fabfile import phase1, phase2, prep

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
SSHD = "/etc/ssh/sshd_config"


def permit_root_login_on_new():
    return sh("new", "sshd -T -C addr=198.18.0.22,user=root,host=x | grep -i '^permitrootlogin'").strip().lower()


def test_sshd_config_that_fails_sshd_t_is_never_installed(fresh, tmp_path):
    before = hashes("new", [SSHD])
    sshd_pid = sh("new", "cat /run/sshd.pid").strip()
    with pytest.raises(Exit, match="fails"):
        run(prep.allow_root_login, tmp_path / "j.jsonl", overrides={"root_login": {"permit_root_login": "bogus-value"}})
    assert hashes("new", [SSHD]) == before
    assert sh("new", "cat /run/sshd.pid").strip() == sshd_pid  # not restarted
    assert sh("new", "ls -a /etc/ssh | grep -c serverswap-tmp || true").strip() == "0"


def test_rsync_killed_half_way_leaves_root_login_closed(fresh, tmp_path):
    sh("old", "mkdir -p /home/yasuda/big && for i in $(seq 1 40); do head -c 1000000 /dev/urandom > /home/yasuda/big/f$i; done")
    assert permit_root_login_on_new() == "permitrootlogin no"
    killed = []

    def kill_rsync_on_old():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            # the real run (not -n): a pid of an rsync whose command line has no " -n "
            pids = sh("old", "ps -eo pid=,args= | awk '$2==\"rsync\" && $0 !~ / -n / {print $1}' | head -1", check=False).split()
            if pids:
                sh("old", f"kill -9 {pids[0]}", check=False)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_rsync_on_old)
    killer.start()
    try:
        with pytest.raises((Exit, SystemExit)):
            run(prep.sync_home, tmp_path / "j.jsonl", overrides={"rsync": {"options": ["-av", "--delete", "-x", "--bwlimit=2000"]}})
    finally:
        killed.append("stop") if not killed else None
        killer.join()
    assert killed and killed[0] != "stop", "the rsync never ran, so it was not killed"
    assert permit_root_login_on_new() == "permitrootlogin no"
    attempt = sh("old", "ssh -o BatchMode=yes -o ConnectTimeout=5 root@198.18.0.21 true; echo rc=$?", check=False)
    assert "rc=0" not in attempt


def fab(hosts_file, *args):
    env = dict(os.environ, SERVERSWAP_HOSTS=str(hosts_file), SERVERSWAP_YES="1")
    return subprocess.run(["fab", *args], cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)


def lab_hosts_copy(tmp_path, replace):
    import lab.api as api

    text = api.hosts_file().read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    for name in ("state/operator_key", "state/known_hosts"):
        text = text.replace(f'"{name}"', f'"{api.hosts_file().parent / name}"')
    text = text.replace('journal = "state/journal.jsonl"', f'journal = "{tmp_path / "journal.jsonl"}"')
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    return path


def test_broken_hosts_file_stops_before_any_change(fresh, tmp_path):
    hosts = lab_hosts_copy(tmp_path, {"uid_min = 1000": 'uid_min = "1000"'})
    assert "apache2" in programs("old")
    result = fab(hosts, "phase1.stop-web")
    assert result.returncode != 0
    assert "accounts.uid_min: must be an integer" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "apache2" in programs("old")


def test_unreachable_host_stops_before_any_change(fresh, tmp_path):
    hosts = lab_hosts_copy(tmp_path, {'fqdn = "ika-itpass.scitec.kobe-u.ac.jp", ip = "198.18.0.21"': 'fqdn = "ika-itpass.scitec.kobe-u.ac.jp", ip = "198.18.0.99"'})
    before = hashes("old", ["/root/.ssh/authorized_keys", "/etc/hostname"])
    result = fab(hosts, "phase2")
    assert result.returncode != 0
    assert "cannot reach 198.18.0.99" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert hashes("old", ["/root/.ssh/authorized_keys", "/etc/hostname"]) == before
    assert permit_root_login_on_new() == "permitrootlogin no"
