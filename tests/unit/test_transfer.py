"""transfer: the real run's command and its progress filter (no host needed)."""

from __future__ import annotations

from pathlib import Path

from fabfile import settings as settings_mod
from fabfile.ops import transfer


class FakeHost:
    def __init__(self):
        self.said = []

    def say(self, message):
        self.said.append(message)


def load():
    return settings_mod.load(Path(__file__).resolve().parents[2] / "hosts.toml")


def test_real_argv_keeps_the_list_on_old_and_stats_last():
    s = load()
    argv = transfer.real_argv(s, 5)
    log = s.rsync.log
    assert "-n" not in argv
    assert f"--log-file={log}.real" in argv and "--info=name0,progress2" in argv
    assert argv[-3:] == ["--stats", s.rsync.source, argv[-1]] and argv[-1].endswith(":" + s.rsync.dest)
    assert "--timeout=60" in argv and "ServerAliveInterval=5" in argv[argv.index("-e") + 1]
    assert "--max-delete=5" in argv
    # the dry run (what the operator reads) is the seed's command: no --info, no --log-file
    dry = transfer.rsync_argv(s, dry=True)
    assert not any(a.startswith(("--info", "--log-file")) for a in dry)


def test_progress_shows_deletions_stats_and_one_progress_line():
    host = FakeHost()
    p = transfer.Progress(host, seconds=3600)
    p.write("deleting a/b\n")
    for i in range(1, 500):
        p.write(f"\r  {i * 1000:>12,} {i // 5}%  1.00MB/s  0:00:01 (xfr#{i}, to-chk={500 - i}/500)")
    p.write("\r  500,000 100%  1.00MB/s  0:00:01 (xfr#500, to-chk=0/500)\n\nNumber of files: 500\n")
    p.write("sent 1,000 bytes  received 35 bytes\ntotal size is 9  speedup is 1.00\n")
    p.close()
    progress = [m for m in host.said if "xfr#" in m]
    assert progress[0].endswith("(xfr#1, to-chk=499/500)")  # the first one, then not again within `seconds`
    assert progress[-1].endswith("(xfr#500, to-chk=0/500)")  # the final state is always shown
    assert len(progress) == 2
    assert "rsync: deleting a/b" in host.said and any(m.startswith("rsync: sent ") for m in host.said)
    assert "rsync: Number of files: 500" in host.said


def test_progress_without_progress2_counts_lines():
    host = FakeHost()
    p = transfer.Progress(host, every=10)
    p.write("".join(f"file{i}\n" for i in range(25)))
    p.close()
    assert host.said == ["rsync: 10 lines…", "rsync: 20 lines…"]


def test_an_account_only_new_has_is_protected_from_delete():
    old = "root:x:0:0::/root:/bin/sh\nyasuda:x:1002:1002::/home/yasuda:/bin/sh\n"
    new = old + "chikuwa1:x:1500:1500::/home/chikuwa1:/bin/sh\nsvc:x:990:990::/var/lib/svc:/bin/false\n"
    assert transfer.homes_at_risk(old, new, "/home/", ["chikuwa*"]) == []
    assert transfer.homes_at_risk(old, new, "/home/", []) == ["chikuwa1 (/home/chikuwa1)"]


class _Result:
    def __init__(self, exited):
        self.exited, self.ok = exited, exited == 0


class _Old(FakeHost):
    alias = "old"

    def __init__(self, exited):
        super().__init__()
        self.exited = exited

    def probe(self, script):
        return _Result(self.exited)


def _dry_run(monkeypatch, exited, log_lines):
    from types import SimpleNamespace

    from fabfile.edit.rsynclog import summarize

    monkeypatch.setattr(transfer, "options_for", lambda step: [])
    monkeypatch.setattr(transfer, "stream_summary", lambda old, log, local, keep, argv: summarize(iter(log_lines), argv=argv))
    return transfer.dry_run(SimpleNamespace(settings=load()), _Old(exited), "/dev/null")


VANISHED_LOG = ["sending incremental file list", "file has vanished: \"/home/yasuda/Maildir/tmp/1.x\"",
                "rsync warning: some files vanished before they could be transferred (code 24) at main.c(1347) [sender=3.2.7]"]


def test_a_dry_run_that_saw_files_vanish_asks_the_operator_instead_of_failing(monkeypatch):
    """rsync's 24 in a dry run (files gone between listing and send, on a live old) is a question, not a failure."""
    summary = _dry_run(monkeypatch, 24, VANISHED_LOG)
    assert any("vanished" in ask and "/home/yasuda/Maildir/tmp/1.x" in ask for ask in summary.needs_acceptance())


def test_a_dry_run_failing_without_a_named_cause_still_fails(monkeypatch):
    import pytest

    from fabfile.errors import RemoteError

    with pytest.raises(RemoteError, match="rsync dry run failed \\(exit 24\\)"):
        _dry_run(monkeypatch, 24, ["sending incremental file list"])      # nothing the operator could be asked about
    with pytest.raises(RemoteError, match="exit 12"):
        _dry_run(monkeypatch, 12, VANISHED_LOG)                         # a broken copy is never a question
