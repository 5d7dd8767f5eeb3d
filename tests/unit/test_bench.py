"""The bench's own pure parts: data-set plan, change plan, journal arithmetic (window, D5, the services'
operations and what they cover, the watcher's figures), the playbook, table and JSON. No lab, no timing."""

import json
import os
import shlex
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

lab = pytest.importorskip("lab.api")  # bench.labrun imports the lab package

from bench import ansible, dataset, measures, report, window  # noqa: E402
from bench.labrun import hosts_text  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


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


def at(t: float) -> str:
    return (T0 + timedelta(seconds=t)).isoformat(timespec="milliseconds")


def _rec(t, event, step, host="old", **kw):
    return dict(time=at(t), event=event, step=step, host=host, **kw)


def night():
    """A rehearsal's journal, shaped as the tool writes it: phase1's lanes, C4, C10, phase3's lanes, checks, then D5."""
    return [
        _rec(1, "start", "S2"), _rec(1, "start", "S4"),
        _rec(1.2, "change", "S4", detail="/etc/init.d/qmail stop"),            # the first stop: the window starts
        _rec(2.5, "change", "S2", detail="/etc/init.d/apache2 stop"), _rec(2.5, "done", "S2", duration=1.5),
        _rec(2.6, "done", "S4", duration=1.6),
        _rec(3, "start", "C4"), _rec(5, "note", "C4", rsync_accepted={"deletions": 0}), _rec(9, "done", "C4", duration=6),
        _rec(10, "change", "C10", detail="network restart, detached (/etc/init.d/networking restart)"),
        _rec(10.1, "change", "C10", host="new", detail="network restart, detached (/etc/init.d/networking restart)"),
        _rec(13, "change", "N1", host="new", detail="kill -HUP qmail-send"),
        _rec(13.2, "change", "D4", detail="/etc/init.d/qmail start"),
        _rec(13.3, "change", "D3", detail="update-rc.d -f apache2 remove"),    # boot configuration: not a service operation
        _rec(22, "check", "V1", host="new", ok=True, check="V1 http"),
        _rec(23, "check", "V6", host="old", ok=True, check="V6 dns"),
        _rec(24, "start", "D5"), _rec(34, "done", "D5", duration=10),
    ]


def test_window_from_journal():
    records = night()
    w = measures.window_from(records)
    assert w["start"] == at(1.2) and w["end"] == at(22) and w["seconds"] == 20.8 and w["rsync"] == 6
    assert [s["step"] for s in w["steps"]] == ["S2", "S4", "C4"]        # D5 started after the window: not in it
    assert measures.c4_parts(records) == {"dry": 2.0, "real": 4.0, "step": 6}


def test_d5_after_the_window_is_off_the_critical_path():
    records = night()
    d = window.d5_after(records, window.window_from(records))
    assert d["off_critical_path"] and d["start_after_window_end"] == 2.0 and d["duration"] == 10
    late = records + [_rec(30, "check", "V2", host="new", ok=True, check="V2 pop")]   # new checked while old reboots
    d = window.d5_after(late, window.window_from(late))
    assert not d["off_critical_path"] and d["new_checks_after_d5_start"] == 1 and d["window_end_after_d5_start"] == 6.0
    assert window.d5_after(records[:-2], window.window_from(records[:-2])) == {"ran": False}


def test_service_ops_are_the_window_s_stops_starts_reloads_and_network_restarts():
    records = night()
    ops = window.service_ops(records, window.window_from(records), ["/etc/init.d/networking", "restart"], 1.0)
    assert [(o["step"], o["host"], o["kind"]) for o in ops] == [
        ("S4", "old", "qmail stop"), ("S2", "old", "apache2 stop"), ("C10", "old", "network restart"),
        ("C10", "new", "network restart"), ("N1", "new", "HUP qmail-send"), ("D4", "old", "qmail start")]
    stop = ops[1]
    assert shlex.split(stop["timed"])[-2:] == ["/etc/init.d/apache2", "stop"]
    assert shlex.split(stop["before"])[-1] == "start" and shlex.split(stop["after"])[-1] == "start"   # running first, put back
    start = ops[-1]
    assert shlex.split(start["before"])[-1] == "stop" and start["after"] == ""
    assert ops[2]["timed"] == "/etc/init.d/networking restart" and ops[2]["delay"] == 1.0
    assert window.classify("systemctl reload named.service", [])["timed"] == "systemctl reload named.service"
    assert window.classify("rndc reload", [])["kind"] == "rndc reload"
    assert window.classify("update-rc.d -f apache2 remove", []) is None


def test_sysv_replay_runs_a_script_made_644_through_sh(tmp_path):
    script = tmp_path / "svc"
    script.write_text("#!/bin/sh\necho \"ran $1\"\n")
    script.chmod(0o644)                     # D3 disables a script the seed's way: chmod 644
    out = subprocess.run(["sh", "-c", window.SYSV_RUN, "sysv", str(script), "stop"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "ran stop\n"


def test_hup_replay_signals_the_running_daemon_by_its_script_name(tmp_path):
    name = f"bench-hup-{os.getpid()}"
    flag = tmp_path / "hupped"
    daemon = tmp_path / name
    daemon.write_text(f"#!/bin/sh\ntrap 'echo hup > {flag}; exit 0' HUP\nwhile :; do sleep 0.05; done\n")
    daemon.chmod(0o755)
    proc = subprocess.Popen([str(daemon)])
    try:
        time.sleep(0.3)
        op = window.classify(f"kill -HUP {name}", [])
        assert subprocess.run(op["timed"], shell=True).returncode == 0
        proc.wait(5)
        assert flag.read_text() == "hup\n"
        assert subprocess.run(op["timed"], shell=True).returncode != 0     # nothing left to signal: a failure, not a no-op
    finally:
        proc.kill()


def test_overhead_counts_overlapping_operations_once():
    records = night()
    w = window.window_from(records)
    ops = window.service_ops(records, w, ["/etc/init.d/networking", "restart"], 1.0)
    timings = {window.op_key(o): t for o, t in zip(ops, (0.1, 1.0, 0.4, 0.4, 0.01, 0.2))}
    timings[window.op_key(ops[3])] = 0.5            # new's network restart: 10.1+1 .. 11.6, overlapping old's 11 .. 11.4
    o = window.overhead(w, 5.0, ops, timings)
    # S4's stop ends at the window start (0 in it), S2's 1.5..2.5 (1.0), network 11..11.6 (0.6), HUP 0.01, D4's start 0.2
    assert o["services"] == 1.81 and o["rsync_pair"] == 5.0 and o["seconds"] == round(20.8 - 5.0 - 1.81, 3)
    assert o["services_sum"] == 2.21 and o["untimed"] == []
    del timings[window.op_key(ops[4])]
    assert window.overhead(w, 5.0, ops, timings)["untimed"] == ["new: " + ops[4]["timed"]]


spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)).map(lambda p: (p[0], p[0] + p[1])), max_size=8)


@given(spans, st.integers(0, 30), st.integers(0, 50))
def test_covered_is_the_length_of_the_union_inside_the_bounds(items, lo, width):
    hi = lo + width
    expected = sum(1 for k in range(lo, hi) if any(a <= k < b for a, b in items))   # integer cells covered
    got = window.covered([(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b)) for a, b in items],
                         T0 + timedelta(seconds=lo), T0 + timedelta(seconds=hi))
    assert got == expected


def probe(t, ok, service="http", target="http://198.18.0.22/", run="w1"):
    return json.dumps({"time": at(t), "watch": run, "service": service, "target": target, "address": "198.18.0.22", "ok": ok,
                       "latency": 0.01, "detail": "" if ok else "refused"})


def test_watch_figures_relative_to_the_window_start():
    lines = [json.dumps({"time": at(0), "watch": "w1", "event": "start"})]
    lines += [probe(0.2 * i, i < 10 or i >= 30) for i in range(40)]                # http out from 2.0 s to 6.0 s
    lines += [probe(0.2 * i + 0.1, True, "pop", "yasuda") for i in range(40)]
    lines.append(json.dumps({"time": at(8), "watch": "w1", "event": "stop", "seconds": 8.0,
                             "rate_per_target": {"http": 5.0, "pop": 5.0}, "cpu_percent": 3.5}))
    text = "...\nmail ledger: sent 25, delivered 25, lost 0, duplicated 0\n"
    f = window.watch_figures(lines, at(1.0), text)
    http, pop = f["services"]
    assert http["total"] == 4.0 and http["outages"] == [{"from": 1.0, "to": 5.0, "seconds": 4.0}] and pop["total"] == 0
    assert f["rate_per_target"] == {"http": 5.0, "pop": 5.0} and f["cpu_percent"] == 3.5
    assert f["ledger"] == {"line": "mail ledger: sent 25, delivered 25, lost 0, duplicated 0",
                           "sent": 25, "delivered": 25, "lost": 0, "duplicated": 0}
    assert window.ledger_counts("mail ledger: sent 3; new's mailbox was not read") is None


def test_tool_actions_and_the_playbook_doing_the_same():
    records = [_rec(1, "change", "Z1", host="new", detail="rndc reload"),
               _rec(2, "change", "D4", detail="kill -HUP qmail-send"),
               _rec(3, "change", "P1", host="new", detail="/etc/init.d/ssh reload")]
    actions = measures.tool_actions(records, "ssh", "bind")
    assert actions == {"qmail_daemons": ["qmail-send"], "sshd_action": "reload", "bind_fallback": "restart", "rndc": True}
    from fabfile import settings as settings_mod

    s = settings_mod.load(REPO / "lab" / "hosts.toml")
    text = ansible.playbook(s, {n: n for n in s.ttl.zone_files}, "ssh -l root", actions["qmail_daemons"], actions["sshd_action"],
                            actions["bind_fallback"])
    plays = yaml.safe_load(text)
    assert [p["hosts"] for p in plays] == ["new", "old"]
    handlers = {h["name"]: h for p in plays for h in p.get("handlers", [])}
    assert handlers["restart ssh"]["command"] == "/etc/init.d/ssh reload"
    assert "kill -HUP" in handlers["restart qmail"]["shell"] and "qmail-send" in handlers["restart qmail"]["shell"]
    assert handlers["old's root logs in"]["delegate_to"] == "old"
    assert handlers["old's root logs in"]["command"].endswith(f"root@{s.by_role('new').before.fqdn} true")


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
        "machine": {"cores": 2, "versions": {"fabric": "3.2.3"}, "load": {"start": [0.1, 0.2, 0.3], "end": [1.5, 0.9, 0.5]}},
        "measures": {
            "window": {"seconds": 25.0, "rsync": 5.0, "steps": [{"step": "S2", "task": "phase1.stop-web", "duration": 0.4}],
                       "watch": {"services": [{"service": "http", "total": 6.5, "outages": [{"from": -0.5, "to": 6.0, "seconds": 6.5}],
                                               "probes": 300},
                                              {"service": "smtp", "total": 9.0, "outages": [{"from": 1.0, "to": 10.0, "seconds": 9.0}],
                                               "probes": 300}],
                                 "ledger": {"line": "mail ledger: sent 21, delivered 21, lost 0, duplicated 0", "sent": 21,
                                            "delivered": 21, "lost": 0, "duplicated": 0},
                                 "rate_per_target": {"http": 5.0}, "cpu_percent": 2.0, "seconds": 60.0},
                       "overhead": {"seconds": 4.0, "rsync_pair": 5.0, "services": 16.0, "services_sum": 17.0, "untimed": []},
                       "service_ops": [{"step": "S2", "host": "old", "kind": "apache2 stop", "direct": 1.3}],
                       "d5": {"ran": True, "off_critical_path": True, "start_after_window_end": 0.4, "duration": 9.0,
                              "outcome": "done", "new_checks_after_d5_start": 0}},
            "rsync": {"c4": {"tool": 2.1, "plain": 2.0}},
            "edits": {"changed": {"fab": 1.0, "ansible": 6.0}, "unchanged": {"fab": 1.0, "ansible": 4.0},
                      "variants": {"sequential": {"changed": {"fab": 2.0, "ansible": 6.0}}},
                      "fab": {"service": {"steps_changed": {"Z1": 0.5, "P1": 0.4}}}},
            "connections": {"runs": [{"run": "phase1", "per_host": {"old": 1}, "expected": {"old": 1}},
                                     {"run": "phase1", "per_host": {"old": 1}, "expected": {"old": 1}}]},
            "scale": {"points": [{"files": 20000, "wall": 2.0, "maxrss_kb": 50000}, {"files": 200000, "wall": 9.0, "maxrss_kb": 52000}]},
            "other": {"error": "x"},
        },
    }
    rows = report.rows(result)

    def verdict(measure, prefix):
        [row] = [r for r in rows if r[0] == measure and r[1].startswith(prefix)]
        return row[-1]

    assert verdict("window", "service window") == "ok"
    assert verdict("users", "outage seen by the watcher: http") == "ok"
    assert verdict("users", "outage seen by the watcher: smtp") == "MISSED"
    assert verdict("users", "mail ledger: sent 21") == "ok"
    assert verdict("window", "tool overhead") == "MISSED"
    assert verdict("window", "D5 off new's critical path") == "ok"
    assert verdict("rsync", "C4 the 1% change") == "ok"
    assert verdict("edits", "Z1+D4+N2+P1, changed") == "ok"
    assert verdict("edits", "Z1+D4+N2+P1, unchanged") == "MISSED"
    assert verdict("edits", "  the same, fab one task after the other (one process), changed") == ""    # information only
    assert verdict("edits", "  fab service, changed run, steps: Z1 0.50 s, P1 0.40 s") == ""
    assert verdict("scale", "peak RSS") == "ok"
    assert verdict("other", "not measured") == "ERROR"
    assert len([r for r in rows if r[0] == "ssh"]) == 1         # the same run twice shows once
    assert "-0.5..+6.0 s" in next(r[1] for r in rows if "outage seen by the watcher: http" in r[1])
    text = report.table(result)
    assert "load average (1, 5, 15 min) at the start 0.10 0.20 0.30, at the end 1.50 0.90 0.50" in text
    assert text.splitlines()[2].split()[:2] == ["measure", "what"] and "2 cores" in text
    path = report.write(result, tmp_path)
    assert path.name == "20260102T030405Z.json"
    doc = json.loads(path.read_text())
    assert doc["goals"]["outage"] == 8.0 and doc["goals"]["overhead"] == 3.0 and doc["table"][0]["measure"] == "window"
