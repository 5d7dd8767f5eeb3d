"""The bench's own pure parts: data-set plan, change plan, journal arithmetic, table and JSON. No lab, no timing."""

import json

import pytest

lab = pytest.importorskip("lab.api")  # bench.labrun imports the lab package

from bench import dataset, measures, report  # noqa: E402
from bench.labrun import hosts_text  # noqa: E402


def test_plan_is_deterministic_and_exact():
    users = ["yasuda", "odaka", "tanaka"]
    a = dataset.plan(500, 10 << 20, users, seed=1)
    assert a == dataset.plan(500, 10 << 20, users, seed=1)
    assert a != dataset.plan(500, 10 << 20, users, seed=2)
    assert len(a) == 500 and sum(f.size for f in a) == 10 << 20
    assert min(f.size for f in a) >= 1 and max(f.size for f in a) <= (10 << 20) // 20
    assert len({f.path for f in a}) == 500
    assert all(f.path.startswith(f"{f.user}/{dataset.SUBDIR}/") for f in a)
    assert not any("gate" in f.path.split("/") or "chikuwa" in f.path for f in a)   # never hit the rsync excludes


def test_change_plan_is_one_percent_split_in_thirds():
    files = dataset.plan(3000, 30 << 20, ["a", "b"])
    c = dataset.change_plan(files)
    assert c == dataset.change_plan(files)
    assert c.count == 30 and (len(c.modify), len(c.add), len(c.delete)) == (10, 10, 10)
    assert not set(c.modify) & set(c.delete)
    existing = {f.path for f in files}
    assert not any(a.path in existing for a in c.add)
    job = json.loads(dataset.changes_job("/home", c))
    assert len(job["create"]) == 10 and len(job["modify"]) == 10 and len(job["delete"]) == 10
    compile(dataset.MAKE_SCRIPT, "make", "exec")


def test_hosts_text_moves_journal_and_known_hosts_but_keeps_the_rest(tmp_path):
    text = 'journal = "state/journal.jsonl"\nknown_hosts = "state/known_hosts"\nreport_dir = "state"\nkey = "state/operator_key"\nlog = "/tmp/x"\n'
    out = hosts_text(text, tmp_path / "lab", tmp_path / "w")
    assert f'journal = "{tmp_path}/w/journal.jsonl"' in out
    assert f'known_hosts = "{tmp_path}/w/known_hosts"' in out
    assert f'key = "{tmp_path}/lab/state/operator_key"' in out
    assert 'log = "/tmp/x"' in out


def _rec(t, event, step, host="old", **kw):
    return dict(time=f"2026-01-01T00:00:{t:06.3f}+00:00", event=event, step=step, host=host, **kw)


def test_window_from_journal():
    records = [
        _rec(1, "start", "S2"), _rec(2, "change", "S2", detail="apache2 stop"), _rec(2.5, "done", "S2", duration=1.5),
        _rec(3, "start", "C4"), _rec(5, "note", "C4", rsync_accepted={"deletions": 0}), _rec(9, "done", "C4", duration=6),
        _rec(10, "start", "D5"), _rec(20, "done", "D5", duration=10),
        _rec(22, "check", "V1", host="new", ok=True, check="V1 http"),
        _rec(23, "check", "V6", host="old", ok=True, check="V6 dns"),
    ]
    w = measures.window_from(records)
    assert w["seconds"] == 20.0 and w["rsync"] == 6 and w["reboot"] == 10 and w["overhead"] == 4.0
    assert [s["step"] for s in w["steps"]] == ["S2", "C4", "D5"]
    assert measures.c4_parts(records) == {"dry": 2.0, "real": 4.0, "step": 6}


def test_designed_reconnects():
    records = [
        _rec(1, "change", "C1", host="new", path="/etc/ssh/sshd_config"),
        _rec(2, "note", "C10", host="old", swapped=True), _rec(2, "note", "C10", host="new", swapped=True),
        _rec(3, "done", "D5", duration=1),
    ]
    d = measures.designed_reconnects(records, "/etc/ssh/sshd_config")
    assert d["new"][0] == 2 and d["old"][0] == 2
    runs = [{"label": "phase2", "logins": {"old": 2, "new": 3, "backup": 0}, "records": records}]
    [c] = measures.connection_runs(runs, "/etc/ssh/sshd_config")
    assert c["per_host"] == {"old": 2, "new": 3} and c["expected"] == {"old": 3, "new": 3}
    # C6's rename of root's authorized_keys on old is followed by a fresh-login proof (designed)
    c6 = records + [_rec(4, "change", "C6", host="old", detail="mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.bk"),
                    _rec(4, "change", "C6", host="old", path="/root/.ssh/authorized_keys")]
    d = measures.designed_reconnects(c6, "/etc/ssh/sshd_config")
    assert d["old"][0] == 3 and "C6 authorized_keys renamed: fresh-login proof" in d["old"][1]


def test_table_and_json(tmp_path):
    result = {
        "started": "2026-01-02T03:04:05+00:00", "quick": False,
        "machine": {"cores": 2, "versions": {"fabric": "3.2.3"}},
        "measures": {
            "window": {"seconds": 25.0, "rsync": 5.0, "reboot": 8.0, "overhead": 12.0, "steps": [{"step": "S2", "task": "phase1.stop-web", "duration": 0.4}]},
            "rsync": {"c4": {"tool": 2.1, "plain": 2.0}},
            "edits": {"changed": {"fab": 1.0, "ansible": 6.0}, "unchanged": {"fab": 1.0, "ansible": 4.0}},
            "connections": {"runs": [{"run": "phase1", "per_host": {"old": 1}, "expected": {"old": 1}}]},
            "scale": {"points": [{"files": 20000, "wall": 2.0, "maxrss_kb": 50000}, {"files": 200000, "wall": 9.0, "maxrss_kb": 52000}]},
            "other": {"error": "x"},
        },
    }
    rows = report.rows(result)

    def verdict(measure, prefix):
        [row] = [r for r in rows if r[0] == measure and r[1].startswith(prefix)]
        return row[-1]

    assert verdict("window", "service window") == "ok"
    assert verdict("window", "tool overhead") == "MISSED"
    assert verdict("rsync", "C4 the 1% change") == "ok"
    assert verdict("edits", "Z1+D4+N2+P1, changed") == "ok"
    assert verdict("edits", "Z1+D4+N2+P1, unchanged") == "MISSED"
    assert verdict("scale", "peak RSS") == "ok"
    assert verdict("other", "not measured") == "ERROR"
    text = report.table(result)
    assert text.splitlines()[1].split()[:2] == ["measure", "what"] and "2 cores" in text
    path = report.write(result, tmp_path)
    assert path.name == "20260102T030405Z.json"
    doc = json.loads(path.read_text())
    assert doc["goals"]["window"] == 30.0 and doc["table"][0]["measure"] == "window"
