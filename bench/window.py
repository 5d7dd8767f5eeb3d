"""The window measure's arithmetic (pure: journal records and watcher lines in, figures out; no lab, no clock).

- `window_from(records)`: the report's service window (fabfile.cockpit.service_window)
  and the runbook steps inside it;
- `d5_after(records, window)`: D5 (old's reboot) against the window's end;
- `service_ops(records, window, settle)`: the services' own operations the tool ran
  inside the window (stop, start, restart, reload, HUP, rndc reload, the network
  restart), each with the command that does the same directly on the host;
- `overhead(window, rsync_pair, ops, timings)`: the window minus the plain rsync
  pair and the time the directly timed operations cover, placed where the tool ran
  them (operations that overlap, e.g. on old's and new's lanes, count once);
- `watch_figures(lines, window_start, ledger_line)`: the users' outages per service
  from the watcher's lines (fabfile.watch.users_view), relative to the window start.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta

SYSV = re.compile(r"^/etc/init\.d/(\S+) (start|stop|restart|reload|force-reload)$")
SYSTEMCTL = re.compile(r"^systemctl (start|stop|restart|reload) (\S+)$")
SYSTEMCTL_HUP = re.compile(r"^systemctl kill --kill-whom=main -s HUP (\S+)$")
KILL_HUP = re.compile(r"^kill -HUP (.+)$")
RNDC = "rndc reload"
NETWORK = re.compile(r"^network restart, detached \((.+)\)$")
LEDGER = re.compile(r"mail ledger: sent (\d+), delivered (\d+), lost (\d+), duplicated (\d+)")
# Replays of a SysV action run the script as the tool does (a script D3 made 644 runs through sh).
SYSV_RUN = 'if [ -x "$1" ]; then exec "$1" "$2"; else exec sh "$1" "$2"; fi'
HUP_RUN = 'for d in "$@"; do p=$(pidof -x "$d") && exec kill -HUP $p; done; exit 1'


def when(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def since(ts: str | None, origin: str | None) -> float | None:
    """Seconds from `origin` to `ts` (both journal times); None when either is missing."""
    if not ts or not origin:
        return None
    return round((when(ts) - when(origin)).total_seconds(), 3)


def runbook_ids() -> set[str]:
    from fabfile.steps import runbook
    return {sid for _, sid, _ in runbook()}


def window_from(records: list[dict]) -> dict:
    """The service window (first stop on old -> last passing check on new) and the steps that ran inside it."""
    from fabfile.cockpit import service_window

    w = service_window(records, "old", "new")
    ids, starts, steps = runbook_ids(), {}, []
    for r in records:
        if r.get("step") not in ids:
            continue
        if r["event"] == "start":
            starts[r["step"]] = r
        elif r["event"] == "done" and r.get("duration") is not None:
            start = starts.get(r["step"])
            if w["start"] and w["end"] and (r["time"] < w["start"] or (start and start["time"] > w["end"])):
                continue
            steps.append({"step": r["step"], "task": r.get("task"), "host": r.get("host"), "duration": r["duration"]})
    durations = {s["step"]: s["duration"] for s in steps}
    out = {"seconds": w["seconds"], "start": w["start"], "end": w["end"], "start_what": w["start_what"], "end_what": w["end_what"],
           "steps": steps, "rsync": durations.get("C4")}
    if w["seconds"] is not None:
        out["steps_sum"] = round(sum(durations.values()), 3)
    return out


def d5_after(records: list[dict], window: dict) -> dict:
    """D5's start and end against the window's end: off new's critical path when it starts after the last check on new."""
    start = next((r for r in records if r.get("step") == "D5" and r["event"] == "start" and not r.get("dry")), None)
    done = next((r for r in records if r.get("step") == "D5" and r["event"] in ("done", "failed") and not r.get("dry")), None)
    if start is None:
        return {"ran": False}
    new_checks_after = [r for r in records if r.get("event") == "check" and r.get("host") == "new" and r["time"] > start["time"]]
    return {"ran": True, "outcome": done and done["event"], "duration": done and done.get("duration"),
            "start": start["time"], "end": done and done["time"],
            "start_after_window_end": since(start["time"], window.get("end")),
            "window_end_after_d5_start": since(window.get("end"), start["time"]),
            "new_checks_after_d5_start": len(new_checks_after),
            "off_critical_path": bool(window.get("end")) and start["time"] >= window["end"] and not new_checks_after}


# ---- the services' own operations ---------------------------------------------

def classify(detail: str, network_restart: list[str]) -> dict | None:
    """What a journalled change is, as a service operation, and how to do the same directly on the host; None if none.

    `timed` is the command timed; `before` brings the service to the state the tool found (running for a stop,
    a restart, a reload; stopped for a start); `after` puts it back as it was."""
    m = SYSV.match(detail)
    if m:
        script, action = f"/etc/init.d/{m.group(1)}", m.group(2)
        run = lambda a: shlex.join(["sh", "-c", SYSV_RUN, "sysv", script, a])  # noqa: E731
        return {"kind": f"{m.group(1)} {action}", "timed": run(action), "before": run("stop" if action == "start" else "start"),
                "after": run("start") if action == "stop" else ""}
    m = SYSTEMCTL.match(detail)
    if m:
        action, unit = m.group(1), m.group(2)
        return {"kind": f"{unit} {action}", "timed": f"systemctl {action} {shlex.quote(unit)}",
                "before": f"systemctl {'stop' if action == 'start' else 'start'} {shlex.quote(unit)}",
                "after": f"systemctl start {shlex.quote(unit)}" if action == "stop" else ""}
    m = SYSTEMCTL_HUP.match(detail)
    if m:
        return {"kind": f"{m.group(1)} HUP", "timed": detail, "before": f"systemctl start {shlex.quote(m.group(1))}", "after": ""}
    m = KILL_HUP.match(detail)
    if m:
        return {"kind": f"HUP {m.group(1)}", "timed": shlex.join(["sh", "-c", HUP_RUN, "hup", *m.group(1).split()]), "before": "", "after": ""}
    if detail == RNDC:
        return {"kind": "rndc reload", "timed": RNDC, "before": "", "after": ""}
    if NETWORK.match(detail):
        return {"kind": "network restart", "timed": shlex.join(network_restart), "before": "", "after": ""}
    return None


def service_ops(records: list[dict], window: dict, network_restart: list[str], settle: float) -> list[dict]:
    """The services' own operations the tool ran in the window: {step, host, end, detail, kind, timed, before, after, delay}.

    `end` is the journal time of the change (a command's record is written when it returns); a network restart
    is launched detached and starts `settle` seconds after its launch record (network.settle_seconds)."""
    if not window.get("start") or not window.get("end"):
        return []
    lo, hi = when(window["start"]), when(window["end"])
    out = []
    for r in records:
        if r.get("event") != "change" or not r.get("host") or not isinstance(r.get("detail"), str):
            continue
        op = classify(r["detail"], network_restart)
        if op is None:
            continue
        delay = settle if op["kind"] == "network restart" else 0.0
        if lo <= when(r["time"]) + timedelta(seconds=delay) <= hi:
            out.append(dict(op, step=r.get("step"), host=r["host"], end=r["time"], detail=r["detail"], delay=delay))
    return out


def op_key(op: dict) -> str:
    """One directly timed measurement per host and command (a command run twice, e.g. C1's and C5's sshd restart, is timed once)."""
    return f"{op['host']}: {op['timed']}"


def intervals(ops: list[dict], timings: dict[str, float]) -> list[tuple[datetime, datetime]]:
    """Each operation's directly timed span, placed where the tool ran it: ending at its record, a network
    restart starting `delay` after its launch."""
    out = []
    for op in ops:
        seconds = timings.get(op_key(op))
        if seconds is None:
            continue
        t = when(op["end"])
        out.append((t + timedelta(seconds=op["delay"]), t + timedelta(seconds=op["delay"] + seconds)) if op["delay"]
                   else (t - timedelta(seconds=seconds), t))
    return out


def covered(spans, lo: datetime, hi: datetime) -> float:
    """Seconds of [lo, hi] covered by at least one span (the union, clipped)."""
    total, reach = 0.0, lo
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in spans):
        if b <= a or b <= reach:        # outside the bounds, or already counted
            continue
        total += (b - max(a, reach)).total_seconds()
        reach = b
    return round(total, 3)


def overhead(window: dict, rsync_pair: float | None, ops: list[dict], timings: dict[str, float]) -> dict:
    """The tool's own time: window - plain `rsync -n` + `rsync` - the time the services' own operations cover."""
    if window.get("seconds") is None:
        return {}
    lo, hi = when(window["start"]), when(window["end"])
    services = covered(intervals(ops, timings), lo, hi)
    summed = round(sum(timings.get(op_key(op), 0.0) for op in ops), 3)
    rsync = rsync_pair or 0.0
    return {"seconds": round(window["seconds"] - rsync - services, 3), "rsync_pair": rsync, "services": services,
            "services_sum": summed, "untimed": sorted({op_key(op) for op in ops if op_key(op) not in timings})}


# ---- the users' view ------------------------------------------------------------

def ledger_counts(text: str) -> dict | None:
    """The counts of the last `mail ledger: sent N, delivered N, lost N, duplicated N` line in `text`."""
    found = LEDGER.findall(text or "")
    if not found:
        return None
    sent, delivered, lost, duplicated = (int(n) for n in found[-1])
    return {"line": f"mail ledger: sent {sent}, delivered {delivered}, lost {lost}, duplicated {duplicated}",
            "sent": sent, "delivered": delivered, "lost": lost, "duplicated": duplicated}


def watch_figures(lines, window_start: str | None, ledger_text: str = "") -> dict:
    """Per service: outage total and intervals (seconds from the window start), probes; the watcher's rate and CPU; the ledger."""
    from fabfile.watch import users_view

    view = users_view(lines)
    services = []
    for s in view["services"]:
        spans = [{"from": since(a, window_start), "to": since(b, window_start), "seconds": sec} for a, b, sec in s["outages"]]
        services.append({"service": s["service"], "total": s["total"], "outages": spans, "probes": s["probes"]})
    stop = view.get("watch", {}).get("stop", {})
    return {"run": view.get("run"), "services": services, "open": view.get("open", []), "rates": view.get("rates", {}),
            "rate_per_target": stop.get("rate_per_target"), "cpu_percent": stop.get("cpu_percent"),
            "seconds": stop.get("seconds"), "ledger": ledger_counts(ledger_text)}
