"""Results -> one table and one JSON document (pure: no lab, no clock except what is passed in).

A result is a dict: {"started", "quick", "machine", "params", "measures": {...}}.
`rows()` turns the measures into table rows (measure, what, serverswap,
alternative, ratio, goal, verdict); `table()` prints them; `document()` is
the JSON written to bench/results/<timestamp>.json (the rows included, so a
result file is readable without this code).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

GOALS = {
    "window": 30.0,          # s, service window with the default data (issue 6)
    "outage": 8.0,           # s, each service's outage as the watcher saw it (issue 14)
    "overhead": 3.0,         # s, window minus plain rsync pair, the services' own operations (issue 14)
    "ledger_sent": 20,       # messages the watcher got accepted in the run (issue 14: N >= 20, lost 0, duplicated 0)
    "rsync_ratio": 1.10,     # C4 / plain rsync
    "edit_ratio": 5.0,       # Ansible / fab, changed and unchanged
    "connections": 1,        # per host per fab run (plus the reconnects an address change or reboot forces)
    "memory_spread": 0.20,   # peak RSS at 200,000 vs 20,000 files
}

HEADER = ("measure", "what", "serverswap", "alternative", "ratio", "goal", "verdict")


def secs(value) -> str:
    return "-" if value is None else f"{value:.2f} s"


def verdict(ok) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def ratio(a, b):
    """a / b, None when either is missing or b is 0."""
    if a is None or b in (None, 0):
        return None
    return a / b


def _spans(outages) -> str:
    return ", ".join(f"{o['from']:+.1f}..{o['to']:+.1f} s" for o in outages if o.get("from") is not None) or "none"


def watch_rows(w: dict) -> list[tuple]:
    rows = []
    for s in w.get("services", []):
        rows.append(("users", f"outage seen by the watcher: {s['service']} ({len(s['outages'])}: {_spans(s['outages'])} from the window start)",
                     secs(s["total"]), "", "", f"<= {GOALS['outage']:.0f} s", verdict(s["total"] <= GOALS["outage"])))
    ledger = w.get("ledger")
    if ledger:
        ok = ledger["lost"] == 0 and ledger["duplicated"] == 0 and ledger["sent"] >= GOALS["ledger_sent"]
        rows.append(("users", ledger["line"], "", "", "", f"sent >= {GOALS['ledger_sent']}, lost 0, dup 0", verdict(ok)))
    else:
        rows.append(("users", "mail ledger: no ledger line in the rehearsal's output", "", "", "", "", verdict(False)))
    rates = w.get("rate_per_target") or {}
    rows.append(("users", "  watcher: probes/s per target " + ", ".join(f"{k} {v:g}" for k, v in rates.items())
                 + f"; CPU {w.get('cpu_percent', '-')} % of one core over {w.get('seconds', '-')} s", "", "", "", "", ""))
    return rows


def overhead_rows(m: dict) -> list[tuple]:
    o = m.get("overhead") or {}
    if not o:
        return []
    rows = [("window", "tool overhead: window - plain rsync -n + rsync - services' own stop/start/reload/network restart",
             secs(o["seconds"]), "", "", f"<= {GOALS['overhead']:.0f} s", verdict(o["seconds"] <= GOALS["overhead"])),
            ("window", f"  subtracted: plain rsync pair {secs(o['rsync_pair'])}; services' operations cover {secs(o['services'])} "
                       f"of the window (sum {secs(o['services_sum'])}, overlaps counted once)", "", "", "", "", "")]
    for op in m.get("service_ops", []):
        rows.append(("window", f"    {op['step']:<4} {op['host']}: {op['kind']} (direct, median of the runs)", secs(op.get("direct")),
                     "", "", "", ""))
    return rows


def d5_rows(d: dict) -> list[tuple]:
    if not d or not d.get("ran"):
        return [("window", "D5 (old's reboot): did not run", "", "", "", "after the window", verdict(False))]
    what = (f"D5 off new's critical path: the window ended {secs(d.get('start_after_window_end'))} before D5 started; "
            f"D5 took {secs(d.get('duration'))} ({d.get('outcome')}); new's checks after D5's start: {d.get('new_checks_after_d5_start')}")
    return [("window", what, "", "", "", "window end <= D5 start", verdict(d.get("off_critical_path")))]


def window_rows(m: dict) -> list[tuple]:
    rows = [("window", "service window (journal): first stop on old -> last check passing on new", secs(m.get("seconds")), "", "",
             f"<= {GOALS['window']:.0f} s", verdict(None if m.get("seconds") is None else m["seconds"] <= GOALS["window"]))]
    if m.get("rc"):
        rows.append(("window", f"  fab rehearse exited {m['rc']}: " + " | ".join(m.get("error_tail", [])[-2:]), "", "", "", "", "ERROR"))
    rows += watch_rows(m.get("watch") or {})
    rows += overhead_rows(m)
    rows += d5_rows(m.get("d5") or {})
    if m.get("steps_sum") is not None:
        rows.append(("window", "  steps in the window (journal durations; lanes overlap)", secs(m["steps_sum"]), "", "", "", ""))
    for s in m.get("steps", []):
        rows.append(("window", f"  {s['step']:<4} {s['task']}", secs(s.get("duration")), "", "", "", ""))
    return rows


def rsync_rows(m: dict) -> list[tuple]:
    rows = []
    for key, label in (("p3", "P3 first copy (fab) vs plain rsync -av"),
                       ("c4", "C4 the 1% change (fab: dry run + real) vs plain rsync -n + rsync"),
                       ("c4_real", "C4's real run alone vs one plain rsync -av"),
                       ("c4_vs_one", "C4 whole step vs one plain rsync -av")):
        pair = m.get(key)
        if not pair:
            continue
        r = ratio(pair.get("tool"), pair.get("plain"))
        rows.append(("rsync", label, secs(pair.get("tool")), secs(pair.get("plain")), "-" if r is None else f"{r:.2f} x",
                     f"<= {GOALS['rsync_ratio']:.2f} x", verdict(None if r is None else r <= GOALS["rsync_ratio"])))
    return rows


def _edit_row(label: str, pair: dict) -> tuple:
    r = ratio(pair.get("ansible"), pair.get("fab"))
    return ("edits", label, secs(pair.get("fab")), secs(pair.get("ansible")), "-" if r is None else f"{r:.1f} x faster",
            f">= {GOALS['edit_ratio']:.0f} x", verdict(None if r is None else r >= GOALS["edit_ratio"]))


VARIANTS = {"service": "one lane per independent edit (new: Z1 | N2, P1; old: D4)",
            "host": "one lane per host (new: Z1, N2, P1 | old: D4)",
            "sequential": "one task after the other (one process)"}


def edit_rows(m: dict) -> list[tuple]:
    rows = []
    for key in ("changed", "unchanged"):
        if m.get(key):
            rows.append(_edit_row(f"Z1+D4+N2+P1, {key} run: fab, {VARIANTS['service']}, vs ansible-playbook", m[key]))
    for name, pairs in (m.get("variants") or {}).items():
        if name == "service":
            continue
        for key in ("changed", "unchanged"):
            if pairs.get(key):
                rows.append(_edit_row(f"  the same, fab {VARIANTS.get(name, name)}, {key} run", pairs[key])[:-2] + ("", ""))
    for name, run in (m.get("fab") or {}).items():
        steps = run.get("steps_changed")
        if steps:
            rows.append(("edits", f"  fab {name}, changed run, steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()),
                         "", "", "", "", ""))
    return rows


def connection_rows(m: dict) -> list[tuple]:
    rows = []
    for run in m.get("runs", []):
        for host, count in sorted(run["per_host"].items()):
            expected = run.get("expected", {}).get(host, GOALS["connections"])
            why = run.get("why", {}).get(host, "")
            row = ("ssh", f"`fab {run['run']}` on {host}" + (f" ({why})" if why else ""), str(count),
                   "", "", f"{expected}", verdict(count <= expected))
            if row not in rows:          # repeated runs (the unchanged edit runs) show once
                rows.append(row)
    if "ansible" in m:
        for run, per_host in m["ansible"].items():
            rows.append(("ssh", f"ansible-playbook {run}: " + ", ".join(f"{h} {n}" for h, n in sorted(per_host.items())),
                         "", "", "", "", ""))
    return rows


def scale_rows(m: dict) -> list[tuple]:
    points = m.get("points", [])
    rows = [("scale", f"P2 dry-run summary, {p['files']:,} files: wall / peak RSS of fab",
             f"{secs(p.get('wall'))} / {(p.get('maxrss_kb') or 0) / 1024:.1f} MiB", "", "", "", "") for p in points]
    if len(points) >= 2 and points[0].get("maxrss_kb") and points[-1].get("maxrss_kb"):
        r = points[-1]["maxrss_kb"] / points[0]["maxrss_kb"]
        rows.append(("scale", f"peak RSS at {points[-1]['files']:,} / at {points[0]['files']:,} files", "", "",
                     f"{r:.2f} x", f"<= {1 + GOALS['memory_spread']:.2f} x", verdict(r <= 1 + GOALS["memory_spread"])))
    return rows


ROW_MAKERS = {"window": window_rows, "rsync": rsync_rows, "edits": edit_rows, "connections": connection_rows, "scale": scale_rows}


def rows(result: dict) -> list[tuple]:
    out = []
    measures = result.get("measures", {})
    for name in list(ROW_MAKERS) + [n for n in measures if n not in ROW_MAKERS]:
        m = measures.get(name)
        if m is None:
            continue
        if m.get("error"):
            out.append((name, f"not measured: {m['error']}", "", "", "", "", "ERROR"))
            continue
        if name in ROW_MAKERS:
            out.extend(ROW_MAKERS[name](m))
    return out


def table(result: dict) -> str:
    body = [tuple(str(c) for c in r) for r in rows(result)]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(HEADER)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    machine = result.get("machine", {})
    head = (f"serverswap bench {result.get('started', '')}{' (--quick)' if result.get('quick') else ''}: "
            f"{machine.get('cores', '?')} cores, " + ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items()))
    load = machine.get("load") or {}
    if load:
        head += "\nload average (1, 5, 15 min) at the start " + " ".join(f"{x:.2f}" for x in load.get("start", [])) + \
                ", at the end " + " ".join(f"{x:.2f}" for x in load.get("end", []))
    return "\n".join([head, line(HEADER), line(["-" * w for w in widths])] + [line(r) for r in body])


def document(result: dict) -> dict:
    doc = dict(result)
    doc["goals"] = GOALS
    doc["table"] = [dict(zip(HEADER, r)) for r in rows(result)]
    return doc


def result_name(started: str) -> str:
    """bench/results/<timestamp>.json: the start time, filesystem-safe and sortable."""
    return started.replace(":", "").replace("-", "").split(".")[0].replace("+0000", "Z") + ".json"


def write(result: dict, directory: str | os.PathLike) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / result_name(result["started"])
    path.write_text(json.dumps(document(result), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
