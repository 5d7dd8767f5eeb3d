"""The host layer on real hosts: the edit contract, copies, services, host keys."""

import io
import json

import pytest

from fabfile import settings as settings_mod
from fabfile.remote import RemoteError, ValidationFailed, copy_file
from fabfile.services import services_of
from fabfile.session import HostKeyError, Session

pytestmark = pytest.mark.lab

TEST_FILE = "/etc/serverswap-test.conf"


@pytest.fixture
def swap(fresh, tmp_path):
    import lab.api as api

    settings = settings_mod.load(api.hosts_file())
    settings = settings.replace(operator={"journal": str(tmp_path / "journal.jsonl")})
    out = io.StringIO()
    session = Session(settings, out=out)
    session.out_text = out
    yield session
    session.close()
    for host in ("old", "new"):
        api.exec(host, f"rm -f {TEST_FILE} {TEST_FILE}.serverswap-* /etc/.serverswap-test.conf.serverswap-tmp", check=False)


def lab_exec(host, cmd):
    import lab.api as api

    return api.exec(host, cmd).stdout


def seed(host, text, mode="640", owner="root:adm"):
    lab_exec(host, f"printf '%s' '{text}' > {TEST_FILE} && chown {owner} {TEST_FILE} && chmod {mode} {TEST_FILE}")


def test_edit_changes_backs_up_and_keeps_owner_and_mode(swap):
    seed("old", "a = 1\nb = 2\n")
    host = swap.host("old")
    result = host.edit(TEST_FILE, lambda t: t.replace("b = 2", "b = 3"))
    assert result.changed and result.backup
    assert lab_exec("old", f"cat {TEST_FILE}") == "a = 1\nb = 3\n"
    assert lab_exec("old", f"stat -c '%U:%G %a' {TEST_FILE}").strip() == "root:adm 640"
    assert lab_exec("old", f"cat {result.backup}") == "a = 1\nb = 2\n"
    assert lab_exec("old", "ls -a /etc | grep -c serverswap-tmp || true").strip() == "0"
    assert "-b = 2" in swap.out_text.getvalue() and "+b = 3" in swap.out_text.getvalue()
    change = [r for r in swap.journal.records() if r["event"] == "change"][-1]
    assert change["path"] == TEST_FILE and change["backup"] == result.backup
    assert change["sha256_before"] != change["sha256_after"]


def test_edit_unchanged_writes_nothing(swap):
    seed("old", "a = 1\n")
    before = lab_exec("old", f"stat -c %Y.%i {TEST_FILE}")
    result = swap.host("old").edit(TEST_FILE, lambda t: t)
    assert not result.changed and result.backup is None
    assert lab_exec("old", f"stat -c %Y.%i {TEST_FILE}") == before
    assert lab_exec("old", f"ls {TEST_FILE}.serverswap-* 2>/dev/null | wc -l").strip() == "0"
    assert f"{TEST_FILE}: unchanged" in swap.out_text.getvalue()


def test_failed_validation_installs_nothing(swap):
    seed("old", "a = 1\n")
    with pytest.raises(ValidationFailed, match="nothing was installed"):
        swap.host("old").edit(TEST_FILE, lambda t: "broken\n", validate="grep -q '^a = ' {}")
    assert lab_exec("old", f"cat {TEST_FILE}") == "a = 1\n"
    assert lab_exec("old", "ls -a /etc | grep -c serverswap-tmp || true").strip() == "0"


def test_dry_run_reads_for_real_and_changes_nothing(swap):
    seed("old", "a = 1\n")
    swap.dry = True
    host = swap.host("old")
    host.dry = True
    result = host.edit(TEST_FILE, lambda t: "a = 2\n")
    assert result.changed and result.dry
    assert lab_exec("old", f"cat {TEST_FILE}") == "a = 1\n"
    assert "+a = 2" in swap.out_text.getvalue()
    assert lab_exec("old", f"ls {TEST_FILE}.serverswap-* 2>/dev/null | wc -l").strip() == "0"


def test_secret_file_diff_names_entries_never_hashes(swap):
    lab_exec("old", "cp -a /etc/shadow /tmp/shadow && chmod 640 /tmp/shadow")
    host = swap.host("old")
    text = host.read_text("/tmp/shadow")
    user_line = next(l for l in text.splitlines() if l.split(":")[1].startswith("$"))
    name, hashed = user_line.split(":")[:2]
    host.edit("/tmp/shadow", lambda t: t.replace(hashed, "!" + hashed), secret=True)
    shown = swap.out_text.getvalue()
    assert name in shown and hashed not in shown
    assert hashed not in json.dumps(list(swap.journal.records()))
    lab_exec("old", "rm -f /tmp/shadow /tmp/shadow.serverswap-*")


def test_copy_between_hosts_keeps_owner_by_name_and_mode(swap):
    seed("old", "crontab-like\n", mode="600", owner="root:crontab")
    result = copy_file(swap.host("old"), swap.host("new"), TEST_FILE)
    assert result.changed
    assert lab_exec("new", f"stat -c '%U:%G %a' {TEST_FILE}").strip() == "root:crontab 600"
    assert lab_exec("new", f"cat {TEST_FILE}") == "crontab-like\n"
    again = copy_file(swap.host("old"), swap.host("new"), TEST_FILE)
    assert not again.changed


def test_services_back_end_stops_and_starts_and_reads_the_state_back(swap):
    from fabfile.services import ensure_running, unit

    host = swap.host("old")
    assert services_of(host).name in ("sysvinit", "systemd")
    assert unit(host, "apache2").running
    assert ensure_running(host, "apache2", running=False) is True
    assert "apache2" not in lab_exec("old", "ps -eo comm=").split()
    assert ensure_running(host, "apache2", running=False) is False      # read back: unchanged
    assert ensure_running(host, "apache2") is True and unit(host, "apache2", fresh=True).running


def test_one_connection_per_host_for_many_operations(swap):
    for _ in range(5):
        swap.host("old").probe(["true"])
        swap.host("new").probe(["true"])
    assert swap.connections_opened == 2


def test_unknown_host_key_is_refused(swap, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    swap.settings = swap.settings.replace(operator={"known_hosts": str(empty)})
    with pytest.raises(HostKeyError, match="no known host key"):
        swap.host("old")


def test_changed_host_key_is_refused(swap, tmp_path):
    wrong = tmp_path / "known_hosts"
    old_ip = swap.settings.host("old").address
    new_address = swap.settings.host("new").address
    new_line = next(l for l in open(swap.settings.operator.known_hosts) if new_address in l.split(" ")[0].split(","))
    wrong.write_text(old_ip + " " + new_line.split(" ", 1)[1])
    swap.settings = swap.settings.replace(operator={"known_hosts": str(wrong)})
    with pytest.raises(HostKeyError, match="CHANGED"):
        swap.host("old")


def test_accept_new_records_a_first_seen_key(swap, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    swap.settings = swap.settings.replace(operator={"known_hosts": str(known)})
    swap.settings = swap.settings.replace(operator={"accept_new_host_keys": True})
    swap.host("old").probe(["true"])
    assert known.read_text().startswith(swap.settings.host("old").address + " ")


def test_unreachable_host_is_one_clear_line(swap):
    swap.settings = swap.settings.replace(operator={"connect_timeout": 2})
    spec = swap.settings.host("old")
    with pytest.raises(RemoteError) as info:
        swap.connect(spec, "198.18.0.99")
    assert "cannot reach 198.18.0.99" in str(info.value) and len(str(info.value).splitlines()) == 1
