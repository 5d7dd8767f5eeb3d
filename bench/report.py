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
    "window": 30.0,          # s, service window with the default data
    "overhead": 5.0,         # s, window minus rsync and reboot wait
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


def window_rows(m: dict) -> list[tuple]:
    rows = [("window", "service window: first stop on old -> last check passing on new", secs(m.get("seconds")), "", "",
             f"<= {GOALS['window']:.0f} s", verdict(None if m.get("seconds") is None else m["seconds"] <= GOALS["window"]))]
    rows.append(("window", f"  of which C4 rsync {secs(m.get('rsync'))}, D5 reboot wait {secs(m.get('reboot'))}",
                 "", "", "", "", ""))
    overhead = m.get("overhead")
    rows.append(("window", "tool overhead: window - rsync - reboot wait", secs(overhead), "", "",
                 f"<= {GOALS['overhead']:.0f} s", verdict(None if overhead is None else overhead <= GOALS["overhead"])))
    if m.get("steps_sum") is not None:
        rows.append(("window", "  in steps (journal durations) / between steps (fab start-up, connect)",
                     f"{secs(m['steps_sum'])} / {secs(m.get('between'))}", "", "", "", ""))
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


def edit_rows(m: dict) -> list[tuple]:
    rows = []
    for key in ("changed", "unchanged"):
        pair = m.get(key)
        if not pair:
            continue
        r = ratio(pair.get("ansible"), pair.get("fab"))
        rows.append(("edits", f"Z1+D4+N2+P1, {key} run: fab vs ansible-playbook", secs(pair.get("fab")), secs(pair.get("ansible")),
                     "-" if r is None else f"{r:.1f} x faster", f">= {GOALS['edit_ratio']:.0f} x",
                     verdict(None if r is None else r >= GOALS["edit_ratio"])))
    return rows


def connection_rows(m: dict) -> list[tuple]:
    rows = []
    for run in m.get("runs", []):
        for host, count in sorted(run["per_host"].items()):
            expected = run.get("expected", {}).get(host, GOALS["connections"])
            why = run.get("why", {}).get(host, "")
            rows.append(("ssh", f"`fab {run['run']}` on {host}" + (f" ({why})" if why else ""), str(count),
                         "", "", f"{expected}", verdict(count <= expected)))
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
