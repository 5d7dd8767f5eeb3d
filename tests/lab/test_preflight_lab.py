"""`fab preflight` on the lab: a fresh lab passes; each planted fault is caught by its own check, and nothing changes.

Each fault is planted from outside (lab.api.exec) or through the hosts
file, preflight runs, and the row of that check (and host) must FAIL while
the hosts' files are as they were (preflight only reads). The lab is reset
once for the module; each fault is taken back after its test.
"""

import posixpath

import pytest
from steprun import hashes, settings, sh

pytestmark = pytest.mark.lab

WATCHED = {"old": ["/etc/hosts", "/root/.ssh/authorized_keys", "/var/qmail/control/rcpthosts"],
           "new": ["/etc/ssh/sshd_config", "/etc/passwd", "/root/.ssh/authorized_keys"]}


def failed_rows(tmp_path, **kwargs):
    import io

    from fabfile import session as session_mod
    from steprun import settings

    out = io.StringIO()
    session = session_mod.Session(settings(tmp_path / "j.jsonl", kwargs.get("hosts"), **kwargs.get("overrides", {})), out=out, assume_yes=True)
    session_mod.set_current(session)
    before = {h: hashes(h, paths) for h, paths in WATCHED.items()}
    try:
        from fabfile.preflight import run_checks

        rows = run_checks(session)
    finally:
        session.close()
        session_mod.set_current(None)
    assert {h: hashes(h, paths) for h, paths in WATCHED.items()} == before, "preflight changed a file"
    return {(r.name.removeprefix("preflight ").split(" ")[0] if r.name.startswith("preflight ") else r.name, r.host) for r in rows if not r.ok}, rows


def test_a_fresh_lab_passes(fresh, tmp_path):
    failed, rows = failed_rows(tmp_path)
    assert not failed, [(r.name, r.host, r.seen, r.reason) for r in rows if not r.ok]
    assert len(rows) > 30


def test_an_unreachable_host_fails_reach(fresh, tmp_path):
    failed, _ = failed_rows(tmp_path, hosts={"backup": {"address": "198.18.0.99"}}, overrides={"operator": {"connect_timeout": 2}})
    assert ("reach", "backup") in failed


def test_a_missing_service_fails_services(fresh, tmp_path):
    failed, _ = failed_rows(tmp_path, overrides={"stop_services": {"web": ("apache3",)}})
    assert ("services", "old") in failed


def test_old_root_key_not_authorised_on_new_fails_old_to_new(fresh, tmp_path):
    key = sh("old", "cut -d' ' -f2 /root/.ssh/id_ed25519.pub").strip()
    sh("new", f"cp -a /root/.ssh/authorized_keys /tmp/ak && grep -v '{key}' /tmp/ak > /root/.ssh/authorized_keys")
    try:
        failed, _ = failed_rows(tmp_path)
    finally:
        sh("new", "cat /tmp/ak > /root/.ssh/authorized_keys")
    assert ("old->new", "new") in failed


def test_old_not_knowing_news_host_key_fails_rsync(fresh, tmp_path):
    sh("old", "cp -a /root/.ssh/known_hosts /tmp/kh && : > /root/.ssh/known_hosts")
    try:
        failed, _ = failed_rows(tmp_path)
    finally:
        sh("old", "cat /tmp/kh > /root/.ssh/known_hosts")
    assert ("rsync", "old") in failed


def test_no_room_on_new_fails_space(fresh, tmp_path):
    sh("new", "mkdir -p /home/tiny && mount -t tmpfs -o size=1m tmpfs /home/tiny")
    try:
        failed, _ = failed_rows(tmp_path, overrides={"rsync": {"dest": "/home/tiny/"}})
    finally:
        sh("new", "umount /home/tiny; rmdir /home/tiny", check=False)
    assert ("space", "new") in failed


def test_a_broken_zone_fails_zones(fresh, tmp_path):
    ttl = settings(tmp_path / "j").ttl    # the profile's own: /usr/local/bind/etc/namedb (seed), /etc/bind (modern)
    zone = posixpath.join(ttl.zone_dir, ttl.zone_files[0])
    sh("new", f"cp -a {zone} /tmp/zone && echo 'broken record here' >> {zone}")
    try:
        failed, _ = failed_rows(tmp_path)
    finally:
        sh("new", f"cat /tmp/zone > {zone}")
    assert ("zones", "new") in failed


def test_a_missing_pop_owner_fails_files(fresh, tmp_path):
    failed, _ = failed_rows(tmp_path, overrides={"pop_auth": {"owner": "nosuchuser"}})
    assert ("files", "new") in failed


def test_the_operator_key_in_the_c6_file_fails_c6(fresh, tmp_path):
    from pathlib import Path

    pub = (Path(__file__).resolve().parents[2] / "lab" / "state" / "operator_key.pub").read_text().strip()
    sh("old", f"cp -a /root/.ssh/authorized_keys /tmp/ak && echo '{pub}' >> /root/.ssh/authorized_keys")
    try:
        failed, _ = failed_rows(tmp_path)
    finally:
        sh("old", "cat /tmp/ak > /root/.ssh/authorized_keys")
    assert ("C6", "old") in failed


def test_a_host_clock_off_by_a_minute_fails_clocks(fresh, tmp_path):
    # every lab host shares this machine's kernel clock: the fault is a host whose `date` says otherwise
    sh("old", "printf '#!/bin/sh\\nexec /bin/date -d @$(( $(/bin/date +%%s) + 60 )) \"$@\"\\n' > /usr/local/bin/date && chmod 755 /usr/local/bin/date")
    try:
        failed, _ = failed_rows(tmp_path)
    finally:
        sh("old", "rm -f /usr/local/bin/date")
    assert ("clocks", "old") in failed


def test_a_dns_server_not_answering_fails_dns(fresh, tmp_path):
    sh("old", "rndc stop >/dev/null 2>&1 || /etc/init.d/bind stop >/dev/null 2>&1 || systemctl stop named")
    try:
        failed, _ = failed_rows(tmp_path)
    finally:
        sh("old", "/etc/init.d/bind start >/dev/null 2>&1 || systemctl start named", check=False)
    assert ("dns", "old") in failed


def test_the_operator_depending_on_what_p1_edits_fails_admin_path(fresh, tmp_path):
    # the operator's own Match block taken away, root login allowed globally: P1/C1 would lock the operator out
    if fresh.PROFILE == "modern":  # Debian's Include: the Match block and PermitRootLogin live in drop-ins
        d = "/etc/ssh/sshd_config.d"
        plant = (f"tar -C {d} -cf /tmp/sc.tar . && rm {d}/40-operator.conf && "
                 f"sed -i 's/^PermitRootLogin no/PermitRootLogin prohibit-password/' {d}/50-local.conf")
        undo = f"rm -f {d}/*.conf && tar -C {d} -xf /tmp/sc.tar"
    else:
        conf = "/etc/ssh/sshd_config"
        plant = (f"cp -a {conf} /tmp/sc && sed -i -e 's/^PermitRootLogin no/PermitRootLogin prohibit-password/' "
                 f"-e '/^Match Address 198.18.0.1$/,/^$/d' {conf}")
        undo = f"cat /tmp/sc > {conf}"
    reload = "(/etc/init.d/ssh reload >/dev/null 2>&1 || systemctl reload ssh)"
    sh("new", f"{plant} && {reload}")
    try:
        failed, _ = failed_rows(tmp_path, overrides={"root_login": {"permit_root_login": "forced-commands-only"}})
    finally:
        sh("new", f"{undo} && {reload}")
    assert ("admin", "new") in failed
