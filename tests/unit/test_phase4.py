"""phase4's logic: addresses from the swap state, one table, journal records, B1's verdict, manual checks."""

import io

import pytest
from invoke import Context
from invoke.exceptions import Exit

from fabfile import checks as ck
from fabfile import phase4
from fabfile import session as session_mod
from fabfile import settings as settings_mod
from fabfile.ops import backupcheck


@pytest.fixture
def swap(tmp_path):
    settings = settings_mod.load(settings_mod.DEFAULT_HOSTS_FILE).replace(operator={"journal": str(tmp_path / "journal.jsonl")})
    session = session_mod.Session(settings, out=io.StringIO())
    session_mod.set_current(session)
    yield session
    session_mod.set_current(None)


def fake_checks(monkeypatch, seen, fail=()):
    def make(kind):
        def check(*args, **kwargs):
            seen.append((kind, args[:2]))
            return ck.Check(f"{kind} {args[0]}", kwargs.get("host", ""), "e", "s", kind not in fail, "broken" if kind in fail else "")

        return check

    for name in ("http_check", "http_refused", "port_closed", "pop_check", "smtp_accepts", "smtp_refuses_rcpt", "dns_check"):
        monkeypatch.setattr(ck, name, make(name))
    monkeypatch.setattr(ck, "mail_roundtrip", lambda *a, **k: ck.Check("roundtrip", k["host"], "e", "s", True))
    monkeypatch.setattr(ck, "list_delivery", lambda *a, **k: ck.Check("list", k["host"], "e", "s", True))


def test_checks_go_to_the_current_address_of_each_host(swap, monkeypatch):
    seen = []
    fake_checks(monkeypatch, seen)
    swap.settings = swap.settings.replace(checks={"pop_user": "yasuda"})
    phase4.check_http(Context())
    phase4.check_pop(Context())
    assert seen[0] == ("http_check", ("http://itpass.scitec.kobe-u.ac.jp/", "133.30.109.21"))   # new before the swap
    swap.journal.write("note", host="new", step="C10", swapped=True)
    seen.clear()
    phase4.check_http(Context())
    assert seen[0][1][1] == "133.30.109.22"                                                   # new after the swap
    records = [r for r in swap.journal.records() if r["event"] == "check"]
    assert records[-1]["step"] == "V1" and records[-1]["ok"] is True and records[-1]["host"] == "new"
    assert {"expected", "seen", "check"} <= set(records[-1])


def test_smtp_checks_cover_the_site_domains(swap, monkeypatch):
    seen = []
    fake_checks(monkeypatch, seen)
    phase4.check_smtp(Context())
    phase4.check_old_closed(Context())
    accepts = [a[1] for k, a in seen if k == "smtp_accepts"]
    refuses = [a[1] for k, a in seen if k == "smtp_refuses_rcpt"]
    domains = [d for d in swap.settings.qmail.new if d != "localhost"]
    assert accepts == refuses == [f"postmaster@{d}" for d in domains]
    out = swap.out.getvalue()
    assert "V3 mail roundtrip" in out and "SKIP" in out     # no pop_user in the shipped file


def test_a_failing_check_fails_its_step(swap, monkeypatch):
    fake_checks(monkeypatch, [], fail={"dns_check"})
    with pytest.raises(Exit) as info:
        phase4.check_dns(Context())
    assert "V6 failed: 6 of 6 check(s) failed" in info.value.message
    failed = [r for r in swap.journal.records() if r["event"] == "failed"]
    assert failed and failed[-1]["step"] == "V6"


def test_check_prints_one_table_and_exits_nonzero_on_fail(swap, monkeypatch):
    fake_checks(monkeypatch, [], fail={"http_refused"})

    def broken_b1(c):
        raise Exit("B1 failed: backup: cannot reach dennou:22")

    class B1:
        serverswap_step = phase4.check_backup.serverswap_step

        def __call__(self, c):
            broken_b1(c)

    monkeypatch.setattr(phase4, "CHECKS", phase4.CHECKS[:-1] + [B1()])
    with pytest.raises(Exit) as info:
        phase4.check(Context())
    assert info.value.code == 1 and "FAILED" in info.value.message
    out = swap.out.getvalue()
    tables = [line for line in out.splitlines() if line.split()[:5] == ["check", "host", "expected", "seen", "result"]]
    assert len(tables) == 1
    assert "B1 check-backup" in out and "cannot reach dennou" in out
    assert "manual check(s) to confirm: fab phase4.manual" in out
    assert swap.check_results is None


def test_manual_without_a_terminal_lists_pending(swap, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO())
    phase4.manual(Context())
    out = swap.out.getvalue()
    assert out.count("(pending)") == len(swap.settings.checks.manual)
    assert not [r for r in swap.journal.records() if r["event"] == "manual"]


def test_manual_in_a_terminal_journals_each_answer(swap, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    answers = iter(["y", "s", "maybe", "y", "n"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    with pytest.raises(Exit) as info:
        phase4.manual(Context())
    assert "answered no" in info.value.message
    records = [r for r in swap.journal.records() if r["event"] == "manual"]
    assert [r["answer"] for r in records] == ["yes", "skip", "yes", "no"]
    assert records[0]["step"] == "V1" and records[2]["step"] is None


def test_list_member_password():
    from fabfile.schema import Checks

    cfg = Checks(list_member_password="", list_member="yasuda@x", pop_user="yasuda", pop_password="p")
    assert phase4.member_password(cfg) == "p"
    assert phase4.member_password(Checks(list_member="yasuda@x", pop_user="other", pop_password="p")) == ""
    assert phase4.member_password(Checks(list_member_password="q", list_member="yasuda@x")) == "q"


# -- B1 ---------------------------------------------------------------------------------------

from fabfile.schema import BackupCheck  # noqa: E402

CFG = BackupCheck(user="kobe", group="kobe", dir="/home/kobe", scripts=(), tail_lines=5, fail_patterns=("rsync error", "failed"))
SCRIPT = {"run": "./itpass_rsync_epa2dennou.sh -n", "log": "itpass_rsync_epa2dennnou_log/itpass_rsync_epa2dennnou.log"}


def test_backup_command_as_root_and_as_the_user():
    inner = "sh -c 'cd \"$1\" && shift && exec \"$@\"' sh /home/kobe ./itpass_rsync_epa2dennou.sh -n"
    assert backupcheck.run_command(CFG, SCRIPT, "root") == ["su", "-s", "/bin/sh", "-g", "kobe", "kobe", "-c", inner]
    assert backupcheck.run_command(CFG, SCRIPT, "kobe") == ["sg", "kobe", "-c", inner]
    assert backupcheck.log_path(CFG, SCRIPT) == "/home/kobe/itpass_rsync_epa2dennnou_log/itpass_rsync_epa2dennnou.log"


@pytest.mark.parametrize("code, before, after, tail, ok, reason", [
    (0, "t1 10", "t2 20", ["sent 10 bytes", "== x: rsync finished successfully"], True, ""),
    (23, "t1 10", "t2 20", ["rsync error: some files could not be transferred (code 23)"], False, "exited 23"),
    (0, "t1 10", "t1 10", ["old line"], False, "not written by this run"),
    (0, "", "", [], False, "no log at"),
    (0, "t1", "t2", ["== x: rsync FAILED (exit 12)"], False, "rsync FAILED"),
])
def test_backup_verdict(code, before, after, tail, ok, reason):
    check = backupcheck.judge("B1 backup x", "backup", code, before, after, tail, CFG.fail_patterns, "/home/kobe/x.log")
    assert check.ok is ok
    assert reason in check.reason
