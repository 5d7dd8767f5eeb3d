"""Faults on the wire: links cut mid-C4 and right after each C10 launch, new rebooted in phase3, a host key changed.

Checked from outside afterwards: no step acted on the wrong machine (each
host's own files and services, by its own name), fab ended within 90 s
with one line naming what failed and what to do, and the next runs finish
the night.
"""

import time

import pytest
from faultkit import HANG, FabNight
from steprun import eventually, sh, wait_booted

pytestmark = pytest.mark.lab


@pytest.fixture
def night(lab, tmp_path):
    lab.reset()
    wait_booted("old", "new")
    return FabNight(tmp_path)


def slow_old(lab):
    """A big file on old and old's link slowed, so that C4's real copy lasts long enough to be cut."""
    sh("old", "head -c 60000000 /dev/urandom > /home/yasuda/big.bin && chown yasuda: /home/yasuda/big.bin")
    sh("old", "tc qdisc replace dev eth0 root tbf rate 40mbit burst 64kb latency 400ms")


def until_c4(night):
    for task in ("phase2.allow-root-login", "phase2.copy-crontabs", "phase2.merge-accounts"):
        r = night.fab(task, "--yes") if task == "phase2.merge-accounts" else night.fab(task)
        assert r.code == 0, r.err[-1500:]


@pytest.mark.parametrize("cut", ["old", "new"])
def test_a_link_cut_mid_c4_ends_in_one_line_and_the_next_run_completes(lab, night, cut):
    slow_old(lab)
    until_c4(night)
    began = time.monotonic()
    process = night.start("phase2.rsync-home", "--yes")
    night.wait_for(lambda r: r.get("step") == "C4" and "rsync_accepted" in r)
    time.sleep(2)
    lab.link(cut, False)
    try:
        result = night.finish(process, began, timeout=HANG + 30)
    finally:
        lab.link(cut, True)
    assert result.code != 0 and result.seconds < HANG, f"no stop within {HANG} s: {result.seconds:.0f} s"
    assert "C4 failed:" in result.last_line and "Traceback" not in result.err, result.err[-1500:]
    assert any(word in result.last_line for word in ("run the task again", "run C4 again", "link"))
    sh("old", "tc qdisc del dev eth0 root", check=False)
    again = night.fab("phase2.rsync-home", "--yes")
    assert again.code == 0, (again.out + again.err)[-2000:]
    assert sh("new", "sha256sum /home/yasuda/big.bin").split()[0] == sh("old", "sha256sum /home/yasuda/big.bin").split()[0]
    night.fab("phase2.close-root-login")


def launched(alias):
    return lambda r: r.get("host") == alias and r.get("swapped") == "unknown"


@pytest.mark.parametrize("victim", ["old", "new"])
def test_a_link_cut_right_after_its_c10_launch_leaves_it_unknown_and_nothing_acts_on_the_wrong_host(lab, night, victim):
    for task in ("phase2.allow-root-login", "phase2.close-root-login", "phase2.swap-identity"):
        assert night.fab(task).code == 0
    began = time.monotonic()
    process = night.start("phase2.restart-network")
    night.wait_for(launched(victim))
    lab.link(victim, False)
    try:
        result = night.finish(process, began, timeout=HANG + 60)
        assert result.code != 0 and f"{victim} is UNKNOWN" in (result.out + result.err), (result.out + result.err)[-2000:]
        assert "fab locate" in result.last_line
        status = night.fab("status")
        assert f"{victim}: UNKNOWN" in status.out
        other = "new" if victim == "old" else "old"
        apache_before = {h: sh(h, "ps -eo comm=") for h in ("old", "new")}
        refused = night.fab("phase3.disable-services" if victim == "old" else "phase3.enable-services")
        assert refused.code != 0 and f"{victim} is UNKNOWN" in refused.last_line
        assert {h: sh(h, "ps -eo comm=") for h in ("old", "new")}.keys() == apache_before.keys()
        assert sh(other, "hostname").strip() in ("old-itpass", "itpass")
    finally:
        lab.link(victim, True)
    located = night.fab("locate")
    assert located.code == 0 and f"{victim}: at " in located.out, located.out + located.err
    assert "swapped" in located.out
    if victim == "old":
        done = night.fab("phase3.disable-services")
        assert done.code == 0 and sh("old", "hostname").strip() == "old-itpass"
        assert "apache2" in sh("new", "ps -eo comm=")                # new's web server untouched


def test_new_rebooted_in_the_middle_of_phase3_stops_in_one_line_and_the_next_run_completes(lab, night):
    for task in ("phase2.allow-root-login", "phase2.close-root-login"):
        assert night.fab(task).code == 0
    began = time.monotonic()
    process = night.start("phase3", "--yes")
    night.wait_for(lambda r: r.get("step") == "N1" and r.get("event") == "start")
    lab.reboot("new", wait=False)
    result = night.finish(process, began, timeout=HANG + 60)
    assert result.seconds < HANG + 30 and "Traceback" not in result.err
    wait_booted("new")
    again = night.fab("phase3", "--yes")
    assert again.code == 0, (again.out + again.err)[-2000:]
    assert eventually(lambda: "apache2" in sh("new", "ps -eo comm=").split())


def test_a_changed_host_key_is_refused_before_any_change(lab, night):
    running = sh("old", "ps -eo comm=")
    lab.rekey("old")
    refused = night.fab("phase1.stop-web")
    assert refused.code != 0 and ("CHANGED" in refused.last_line or "is not old" in refused.last_line), refused.last_line
    assert ("apache2" in running) == ("apache2" in sh("old", "ps -eo comm="))


@pytest.mark.parametrize("old_text, new_text, words", [
    ('source = "/home/"', 'source = "/home"', "no trailing slash"),
    ('web = ["apache2"]', 'web = ["ssh"]', "is sshd"),
    ('zone_files = ["localhost.zone", "localhost.rev"]', 'zone_files = ["../../etc/passwd", "localhost.rev"]', "inside ttl.zone_dir"),
])
def test_a_dangerous_setting_is_refused_in_one_line_and_nothing_runs(lab, tmp_path, old_text, new_text, words):
    if old_text not in lab.hosts_file().read_text():
        pytest.skip(f"this profile's hosts file has no {old_text!r}")
    night = FabNight(tmp_path, {old_text: new_text})
    running = {h: set(sh(h, "ps -eo comm=").split()) for h in ("old", "new")}
    refused = night.fab("phase1.stop-web")
    assert refused.code != 0 and words in (refused.out + refused.err) and "Traceback" not in refused.err
    assert {h: set(sh(h, "ps -eo comm=").split()) for h in ("old", "new")} == running      # the same daemons run
