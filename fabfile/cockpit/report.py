"""The report's model (pure): the night's runs, step executions, service window, changes, checks, manual answers.

`build_report(records, ...)` turns journal records into one dict that the
renderers (render.py) show as Markdown and HTML. Extra sections (the
users' view: outages and the mail ledger; open exposures) are passed in
by the caller, already computed, so this module stays a pure function of
its inputs.
"""

from __future__ import annotations

from datetime import datetime

from ..journal import now_iso
from .status import latest_checks, manual_answers

SERVICE_STOP_STEPS = ("S2", "S4")


def parse_time(ts) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None


def _execution(record, **extra) -> dict:
    return dict(step=record.get("step"), task=record.get("task"), host=record.get("host"), user=record.get("user"),
                run=record.get("run"), start=record.get("time"), end=None, duration=None, outcome="running", detail="", changes=0) | extra


def executions(records: list[dict]) -> tuple[list[dict], int]:
    """Each step execution (start -> done/failed, or skipped) of real runs; and the number of dry-run ones."""
    open_: dict[tuple, dict] = {}
    out: list[dict] = []
    dry = 0
    for record in records:
        event = record.get("event")
        key = (record.get("run"), record.get("task"), record.get("step"))
        if event == "start":
            if record.get("dry"):
                dry += 1
                open_[key] = {"dry": True}
                continue
            open_[key] = item = _execution(record)
            out.append(item)
        elif event in ("done", "failed"):
            item = open_.pop(key, None)
            if item is not None and not item.get("dry"):
                item.update(end=record.get("time"), duration=record.get("duration"), outcome=event, detail=record.get("detail", ""))
        elif event == "change":
            for k, item in open_.items():
                if k[0] == record.get("run") and k[2] == record.get("step") and not item.get("dry"):
                    item["changes"] += 1
        elif event == "skipped" and not record.get("dry"):
            out.append(_execution(record, end=record.get("time"), duration=0, outcome="skipped", detail=record.get("detail", "")))
    for item in out:
        if item["outcome"] == "running":
            item["outcome"] = "no end (interrupted?)"
    return out, dry


def _first_stop(records, old_alias):
    return next((r for r in records if r.get("event") == "change" and r.get("step") in SERVICE_STOP_STEPS and r.get("host") == old_alias), None)


def _last_pass(records, new_alias, after: str):
    passing = [r for r in records if r.get("event") == "check" and r.get("ok") and r.get("host") == new_alias and r.get("time", "") >= after]
    return passing[-1] if passing else None


def service_window(records: list[dict], old_alias: str = "old", new_alias: str = "new") -> dict:
    """From the first service-stop change on old (S2/S4) to the last passing check on new."""
    start = _first_stop(records, old_alias)
    end = _last_pass(records, new_alias, start.get("time", "") if start else "")
    window = dict(start=start and start["time"], end=end and end["time"], seconds=None,
                  start_what=start and (start.get("detail") or start.get("path") or ""), end_what=end and end.get("check", ""))
    a, b = (parse_time(start["time"]), parse_time(end["time"])) if start and end else (None, None)
    if a and b:
        window["seconds"] = round((b - a).total_seconds(), 1)
    return window


def clock(ts) -> str:
    """HH:MM:SS of a journal time (the date is in the report's header)."""
    parsed = parse_time(ts) if ts else None
    return parsed.strftime("%H:%M:%S") if parsed else str(ts or "")


def hms(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _runs(records) -> list[dict]:
    runs, seen = [], set()
    for r in records:
        if r.get("run") and r["run"] not in seen:
            seen.add(r["run"])
            runs.append({"run": r["run"], "user": r.get("user"), "first": r.get("time")})
    return runs


def _manual(records, manual_items) -> list[dict]:
    answers = manual_answers(records)
    rows = [dict(item=item, answer=(answers.get(item) or {}).get("answer", "pending"), time=(answers.get(item) or {}).get("time"),
                 user=(answers.get(item) or {}).get("user")) for item in manual_items]
    return rows + [dict(item=i, answer=a.get("answer"), time=a.get("time"), user=a.get("user")) for i, a in answers.items() if i not in manual_items]


def build_report(records: list[dict], *, old_alias="old", new_alias="new", manual_items=(), hosts_file="",
                 title="serverswap report", exposures=(), users_view=None) -> dict:
    execs, dry = executions(records)
    times = [t for t in (parse_time(r.get("time")) for r in records if r.get("time")) if t]
    return dict(title=title, hosts_file=str(hosts_file), generated=now_iso(), runs=_runs(records), executions=execs, dry_executions=dry,
                window=service_window(records, old_alias, new_alias), changes=[r for r in records if r.get("event") == "change"],
                checks=latest_checks(records), manual=_manual(records, manual_items), exposures=list(exposures), users_view=users_view,
                first=min(times).isoformat() if times else None, last=max(times).isoformat() if times else None)


def verdict(check: dict) -> str:
    kind = check.get("kind")
    if kind == "skip":
        return "SKIP"
    if kind == "manual":
        return "MANUAL"
    if check.get("ok") is None:
        return "NOTE"          # a step's own "check" record without a verdict
    return "OK" if check.get("ok") else "FAIL"
