"""The operator's cockpit: `fab plan`, `fab status`, `fab report`, `fab rehearse`.

Everything here reads the journal (the record of the night) and the step
registry; only `plan --diff` and `rehearse` touch hosts, through the steps
themselves. The pure parts (runbook rows, status, the report's model and its
HTML/Markdown) take journal records and return text, so they are tested on
synthetic journals.

Resume rule (steps.run_sequence): a step the journal shows done, whose
change is still in place, is skipped unless --force; see steps.still_in_place.
"""

from __future__ import annotations

import html
import inspect
import os
import re
import sys
from datetime import datetime
from importlib import import_module
from pathlib import Path

from fabric import task
from invoke.exceptions import Exit

from . import PHASES
from . import session as session_mod
from .steps import step_states

# The runbook's step IDs in its order (shared/runbook.md), with a short title.
RUNBOOK = [
    ("prep", "P1", "allow root login on new"),
    ("prep", "P2", "rsync dry run of /home"),
    ("prep", "P3", "rsync /home for real"),
    ("prep", "P4", "restore new's sshd_config"),
    ("phase0", "Z1", "lower the DNS TTL on new"),
    ("phase1", "S1", "check new's resolver"),
    ("phase1", "S2", "stop the web server on old"),
    ("phase1", "S3", "end user sessions on old"),
    ("phase1", "S4", "stop mail on old"),
    ("phase2", "C1", "allow root login on new"),
    ("phase2", "C2", "copy crontabs"),
    ("phase2", "C3", "merge user accounts"),
    ("phase2", "C4", "rsync /home"),
    ("phase2", "C5", "close root login on new"),
    ("phase2", "C6", "restrict new's key on old"),
    ("phase2", "C7", "copy the POP password database"),
    ("phase2", "C8", "swap host names"),
    ("phase2", "C9", "swap IP addresses"),
    ("phase2", "C10", "restart networking"),
    ("phase3", "D1", "back up the BIND data"),
    ("phase3", "D2", "BIND starts at boot"),
    ("phase3", "D4", "qmail on old accepts nothing from outside"),
    ("phase3", "D3", "services off at boot on old"),
    ("phase3", "D5", "reboot old and check"),
    ("phase3", "N1", "qmail control on new"),
    ("phase3", "N2", "mailing list bouncer"),
    ("phase3", "N3", "services on at boot on new"),
    ("phase4", "V1", "http"),
    ("phase4", "V2", "pop"),
    ("phase4", "V3", "smtp"),
    ("phase4", "V4", "mailing list"),
    ("phase4", "V5", "old: http/pop off, smtp refuses"),
    ("phase4", "V6", "DNS on old and new"),
    ("phase4", "B1", "the backup still runs"),
    ("after", "A1", "remove the files copied for reference"),
    ("after", "A2", "restore the TTL on new"),
    ("after", "A3", "remove the build accounts"),
]
SERVICE_STOP_STEPS = ("S2", "S4")
CHECK_STEPS = ("V1", "V2", "V3", "V4", "V5", "V6", "B1")


# -- the step registry ------------------------------------------------------------

def load_phases(names=PHASES) -> dict:
    """Import the phase modules that exist (they register their steps); {name: module}."""
    modules = {}
    for name in names:
        try:
            modules[name] = import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    return modules


def tasks_by_id(modules: dict) -> dict[str, object]:
    """Step ID -> the task that carries it (first ID of a multi-ID task, and each of its IDs)."""
    found = {}
    for module in modules.values():
        for value in vars(module).values():
            info = getattr(value, "serverswap_step", None)
            if info is None:
                continue
            for sid in info.ids:
                if re.fullmatch(r"[A-Z]\d+", sid):
                    found.setdefault(sid, value)
    return found


def host_of(info) -> str:
    if info.role:
        return info.role
    first = (info.doc or "").splitlines()[0] if info.doc else ""
    match = re.match(r"^\S+ \(([^)]*)\)", first)
    return match.group(1) if match else "-"


def default_task(module):
    for value in vars(module).values():
        if getattr(value, "is_default", False) and hasattr(value, "body"):
            return value
    return None


# -- plan and status (pure) ---------------------------------------------------------

def _when(record) -> str:
    return str(record.get("time", ""))[:19].replace("T", " ")


def state_text(record) -> str:
    if not record:
        return "not done"
    if record["event"] == "done":
        return f"done at {_when(record)}"
    return f"FAILED at {_when(record)}: {record.get('detail', '')}"


def plan_rows(records: list[dict], infos: dict[str, object], manual_items=()) -> list[dict]:
    """The runbook in order: id, task, host, kind, state (+ the raw state record)."""
    states = step_states(records)
    rows = []
    for phase, sid, title in RUNBOOK:
        info = infos.get(sid)
        if info is None:
            rows.append(dict(id=sid, phase=phase, task="(no task)", title=title, host="-", kind="missing", state="not done", record=None))
            continue
        record = states.get(info.ids[0])
        rows.append(dict(id=sid, phase=phase, task=info.task_name, title=title, host=host_of(info),
                         kind="manual" if info.manual else "automated", state=state_text(record), record=record, info=info))
    answers = manual_answers(records)
    position = next((i for i, r in enumerate(rows) if r["id"] == "B1"), len(rows)) + 1
    for item in manual_items:
        answer = answers.get(item)
        state = {"yes": "confirmed", "no": "answered NO", "skip": "skipped"}.get(answer.get("answer"), "?") + f" at {_when(answer)}" if answer else "pending"
        rows.insert(position, dict(id="(V)", phase="phase4", task="phase4.manual", title=item, host="operator", kind="manual", state=state, record=answer))
        position += 1
    return rows


def manual_answers(records) -> dict[str, dict]:
    answers: dict[str, dict] = {}
    for record in records:
        if record.get("event") == "manual" and record.get("item"):
            answers[record["item"]] = record
    return answers


def format_plan(rows) -> str:
    head = ("ID", "task", "host", "kind", "state")
    table = [head] + [(r["id"], r["task"] if r["kind"] != "manual" or r["id"] != "(V)" else r["title"], r["host"], r["kind"], r["state"]) for r in rows]
    widths = [min(max(len(str(row[i])) for row in table), limit) for i, limit in enumerate((5, 44, 16, 9))]
    out = []
    for index, row in enumerate(table):
        cells = [str(c)[: widths[i]].ljust(widths[i]) for i, c in enumerate(row[:4])]
        out.append("  ".join(cells + [str(row[4])]))
        if index == 0:
            out.append("  ".join("-" * w for w in widths) + "  -----")
    return "\n".join(out)


def latest_checks(records) -> list[dict]:
    """The last result of each check (by check name and host), in first-seen order."""
    latest: dict[tuple, dict] = {}
    for record in records:
        if record.get("event") == "check":
            latest[(record.get("check") or f"{record.get('step')} {record.get('task')}", record.get("host"))] = record
    return list(latest.values())


def swap_state(records, aliases) -> dict[str, bool]:
    state = {alias: False for alias in aliases}
    for record in records:
        if record.get("host") in state and "swapped" in record:
            state[record["host"]] = bool(record["swapped"])
    return state


def status_lines(records: list[dict], infos: dict, settings=None) -> list[str]:
    rows = plan_rows(records, infos)
    done = [r for r in rows if r["record"] and r["record"]["event"] == "done"]
    failed = [r for r in rows if r["record"] and r["record"]["event"] == "failed"]
    lines = []
    if done:
        last = max(done, key=lambda r: r["record"]["time"])
        lines.append(f"last done: {last['id']} {last['task']} at {_when(last['record'])}")
    else:
        lines.append("last done: nothing yet")
    following = next((r for r in rows if not (r["record"] and r["record"]["event"] == "done")), None)
    lines.append(f"next: {following['id']} {following['task']} ({following['title']})" if following else "next: nothing; every step is done")
    for r in failed:
        lines.append(f"FAILED: {r['id']} {r['task']} at {_when(r['record'])}: {r['record'].get('detail', '')}")
    lines.append(f"steps: {len(done)} done, {len(failed)} failed, {len(rows) - len(done) - len(failed)} not done (of {len(rows)})")
    if settings is not None:
        swapped = swap_state(records, settings.hosts)
        for alias, spec in settings.hosts.items():
            if spec.role == "backup":
                continue
            s = swapped[alias]
            lines.append(f"{alias}: {'SWAPPED' if s else 'not swapped'}, reached at {spec.address_for(s)} as {spec.hostname_for(s)}")
    checks = [c for c in latest_checks(records) if c.get("ok") is not None]
    if checks:
        bad = [c for c in checks if not c.get("ok")]
        lines.append(f"checks: {len(checks) - len(bad)} OK, {len(bad)} FAIL" + (f" ({', '.join(c.get('check', '?') for c in bad[:3])})" if bad else ""))
    return lines


# -- the report (pure model + renderers) -----------------------------------------------

def _parse(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None


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
            item = dict(step=record.get("step"), task=record.get("task"), host=record.get("host"), user=record.get("user"),
                        run=record.get("run"), start=record.get("time"), end=None, duration=None, outcome="running", detail="", changes=0)
            open_[key] = item
            out.append(item)
        elif event in ("done", "failed"):
            item = open_.pop(key, None)
            if item is None or item.get("dry"):
                continue
            item.update(end=record.get("time"), duration=record.get("duration"), outcome=event, detail=record.get("detail", ""))
        elif event == "change":
            for k, item in open_.items():
                if k[0] == record.get("run") and k[2] == record.get("step") and not item.get("dry"):
                    item["changes"] += 1
        elif event == "skipped" and not record.get("dry"):
            out.append(dict(step=record.get("step"), task=record.get("task"), host=record.get("host"), user=record.get("user"),
                            run=record.get("run"), start=record.get("time"), end=record.get("time"), duration=0,
                            outcome="skipped", detail=record.get("detail", ""), changes=0))
    for item in out:
        if item["outcome"] == "running":
            item["outcome"] = "no end (interrupted?)"
    return out, dry


def service_window(records: list[dict], old_alias: str = "old", new_alias: str = "new") -> dict:
    """From the first service-stop change on old (S2/S4) to the last passing check on new."""
    start = next((r for r in records if r.get("event") == "change" and r.get("step") in SERVICE_STOP_STEPS and r.get("host") == old_alias), None)
    end = None
    for r in records:
        if r.get("event") == "check" and r.get("ok") and r.get("host") == new_alias:
            if start is None or r.get("time", "") >= start.get("time", ""):
                end = r
    window = dict(start=start and start["time"], end=end and end["time"], seconds=None,
                  start_what=start and (start.get("detail") or start.get("path") or ""), end_what=end and end.get("check", ""))
    if start and end:
        a, b = _parse(start["time"]), _parse(end["time"])
        if a and b:
            window["seconds"] = round((b - a).total_seconds(), 1)
    return window


def clock(ts) -> str:
    """HH:MM:SS of a journal time (the date is in the report's header)."""
    parsed = _parse(ts) if ts else None
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


def build_report(records: list[dict], *, old_alias="old", new_alias="new", manual_items=(), hosts_file="", title="serverswap report") -> dict:
    runs = []
    for r in records:
        if r.get("run") and r["run"] not in [x["run"] for x in runs]:
            runs.append({"run": r["run"], "user": r.get("user"), "first": r.get("time")})
    execs, dry = executions(records)
    changes = [r for r in records if r.get("event") == "change"]
    answers = manual_answers(records)
    manual = [dict(item=item, answer=(answers.get(item) or {}).get("answer", "pending"), time=(answers.get(item) or {}).get("time"),
                   user=(answers.get(item) or {}).get("user")) for item in manual_items]
    manual += [dict(item=i, answer=a.get("answer"), time=a.get("time"), user=a.get("user")) for i, a in answers.items() if i not in manual_items]
    times = [_parse(r.get("time")) for r in records if r.get("time")]
    times = [t for t in times if t]
    return dict(title=title, hosts_file=str(hosts_file), generated=session_now(), runs=runs, executions=execs, dry_executions=dry,
                window=service_window(records, old_alias, new_alias), changes=changes, checks=latest_checks(records), manual=manual,
                first=min(times).isoformat() if times else None, last=max(times).isoformat() if times else None)


def session_now() -> str:
    from .journal import now_iso

    return now_iso()


def _md(value) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def runs_text(model: dict) -> str:
    return ", ".join(f"{r['run']} ({r['user']})" for r in model["runs"]) or "none"


def render_markdown(model: dict) -> str:
    w = model["window"]
    out = [f"# {model['title']}", "", f"Hosts file: `{model['hosts_file']}`  ", f"Generated: {model['generated']}  ",
           f"Journal: {model['first'] or '-'} to {model['last'] or '-'}, runs: {runs_text(model)}", ""]
    out += ["## Service window", ""]
    if w["start"] and w["end"]:
        out.append(f"From {w['start']} (first service stopped on old: {w['start_what']}) to {w['end']} (last passing check on new: {w['end_what']}): **{hms(w['seconds'])}**.")
    elif w["start"]:
        out.append(f"Opened {w['start']} ({w['start_what']}); no passing check on new since: the window is still open.")
    else:
        out.append("No service was stopped on old yet.")
    out += ["", "## Timeline", "", "| start | end | duration | step | task | host | user | outcome | changes | detail |", "|---|---|---|---|---|---|---|---|---|---|"]
    for e in model["executions"]:
        out.append("| " + " | ".join(_md(x) for x in (e["start"], e["end"], hms(e["duration"]), e["step"], e["task"], e["host"], e["user"], e["outcome"], e["changes"], e["detail"])) + " |")
    if model["dry_executions"]:
        out.append(f"\n({model['dry_executions']} dry-run step execution(s) not shown.)")
    out += ["", "## Changes and their backups", "", "| time | host | step | path | backup | what |", "|---|---|---|---|---|---|"]
    for c in model["changes"]:
        out.append("| " + " | ".join(_md(x) for x in (c.get("time"), c.get("host"), c.get("step"), c.get("path") or "-", c.get("backup") or "-", c.get("detail") or "")) + " |")
    out += ["", "## Checks", "", "| check | host | expected | seen | result | time |", "|---|---|---|---|---|---|"]
    for c in model["checks"]:
        out.append("| " + " | ".join(_md(x) for x in (c.get("check") or f"{c.get('step')} {c.get('task')}", c.get("host"), c.get("expected"), c.get("seen") or c.get("detail"), verdict(c), c.get("time"))) + " |")
    out += ["", "## Manual confirmations", "", "| item | answer | time | by |", "|---|---|---|---|"]
    for m in model["manual"]:
        out.append("| " + " | ".join(_md(x) for x in (m["item"], m["answer"], m["time"] or "-", m["user"] or "-")) + " |")
    return "\n".join(out) + "\n"


def verdict(check: dict) -> str:
    kind = check.get("kind")
    if kind == "skip":
        return "SKIP"
    if kind == "manual":
        return "MANUAL"
    if check.get("ok") is None:
        return "NOTE"          # a step's own "check" record without a verdict
    return "OK" if check.get("ok") else "FAIL"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.ok,.done{color:#0a6b0a;font-weight:bold}.fail,.failed{color:#b00;font-weight:bold}.skipped,.skip{color:#777}
.bar{position:relative;height:.9em;background:#f6f6f6;min-width:200px}
.bar span{position:absolute;top:0;bottom:0;background:#4a7fc1;min-width:2px}
.bar span.failed{background:#c33}.bar span.skipped{background:#bbb}
.window{font-size:1.1em;padding:.5em;background:#fffbe6;border:1px solid #e6d680}
code{background:#f3f3f3;padding:0 .2em}
"""


def render_html(model: dict) -> str:
    e = html.escape
    w = model["window"]
    t0, t1 = _parse(model["first"]) if model["first"] else None, _parse(model["last"]) if model["last"] else None
    span = (t1 - t0).total_seconds() if t0 and t1 and t1 > t0 else 0

    def bar(item):
        start = _parse(item["start"])
        if not (start and t0 and span):
            return ""
        left = (start - t0).total_seconds() / span * 100
        width = max(float(item["duration"] or 0) / span * 100, 0.2)
        return f'<div class="bar"><span class="{e(item["outcome"].split()[0])}" style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%"></span></div>'

    def row(cells, cls=""):
        return "<tr" + (f' class="{cls}"' if cls else "") + ">" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(model['title'])}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>{e(model['title'])}</h1>",
        f"<p>Hosts file: <code>{e(model['hosts_file'])}</code><br>Generated: {e(model['generated'])}<br>"
        f"Journal: {e(model['first'] or '-')} to {e(model['last'] or '-')}; runs: {e(runs_text(model))}</p>",
        '<h2 id="service-window">Service window</h2>',
    ]
    if w["start"] and w["end"]:
        parts.append(f'<p class="window" id="window">From <b>{e(w["start"])}</b> (first service stopped on old: {e(w["start_what"] or "")}) '
                     f'to <b>{e(w["end"])}</b> (last passing check on new: {e(w["end_what"] or "")}): <b>{e(hms(w["seconds"]))}</b></p>')
    elif w["start"]:
        parts.append(f'<p class="window" id="window">Opened {e(w["start"])} ({e(w["start_what"] or "")}); no passing check on new since: still open.</p>')
    else:
        parts.append('<p class="window" id="window">No service was stopped on old yet.</p>')
    parts.append('<h2>Timeline</h2><table id="timeline"><thead><tr><th>start</th><th>duration</th><th>step</th><th>task</th><th>host</th>'
                 '<th>user</th><th>outcome</th><th>changes</th><th>detail</th><th style="width:25%">when</th></tr></thead><tbody>')
    for x in model["executions"]:
        parts.append(row([e(clock(x["start"])), e(hms(x["duration"])), e(x["step"] or ""), e(x["task"] or ""), e(x["host"] or ""), e(x["user"] or ""),
                          f'<span class="{e(x["outcome"].split()[0])}">{e(x["outcome"])}</span>', str(x["changes"]), e(x["detail"] or ""), bar(x)], "step"))
    parts.append("</tbody></table>")
    if model["dry_executions"]:
        parts.append(f"<p>({model['dry_executions']} dry-run step execution(s) not shown.)</p>")
    parts.append('<h2>Changes and their backups</h2><table id="changes"><thead><tr><th>time</th><th>host</th><th>step</th><th>path</th><th>backup</th><th>what</th></tr></thead><tbody>')
    for c in model["changes"]:
        parts.append(row([e(clock(c.get("time"))), e(c.get("host") or ""), e(c.get("step") or ""), f"<code>{e(c.get('path') or '-')}</code>",
                          f"<code>{e(c.get('backup') or '-')}</code>", e(c.get("detail") or "")], "change"))
    parts.append("</tbody></table>")
    parts.append('<h2>Checks</h2><table id="checks"><thead><tr><th>check</th><th>host</th><th>expected</th><th>seen</th><th>result</th><th>time</th></tr></thead><tbody>')
    for c in model["checks"]:
        v = verdict(c)
        parts.append(row([e(c.get("check") or f"{c.get('step')} {c.get('task')}"), e(c.get("host") or ""), e(c.get("expected") or ""), e(c.get("seen") or ""),
                          f'<span class="{v.lower()}">{v}</span>' + (f"<br><small>{e(c.get('detail'))}</small>" if c.get("detail") else ""),
                          e(clock(c.get("time")))], "check"))
    parts.append("</tbody></table>")
    parts.append('<h2>Manual confirmations</h2><table id="manual"><thead><tr><th>item</th><th>answer</th><th>time</th><th>by</th></tr></thead><tbody>')
    for m in model["manual"]:
        parts.append(row([e(m["item"]), e(m["answer"] or ""), e(m["time"] or "-"), e(m["user"] or "-")], "manual"))
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts) + "\n"


def write_report(settings, records, out_dir: str | None = None) -> Path:
    out = Path(out_dir or settings["operator"]["report_dir"])
    if not out.is_absolute():
        out = settings.path.parent / out
    out.mkdir(parents=True, exist_ok=True)
    old = settings.by_role("old").alias
    new = settings.by_role("new").alias
    model = build_report(records, old_alias=old, new_alias=new, manual_items=settings["checks"]["manual"], hosts_file=settings.path)
    (out / "report.md").write_text(render_markdown(model), encoding="utf-8")
    path = out / "report.html"
    path.write_text(render_html(model), encoding="utf-8")
    return path


# -- the tasks ---------------------------------------------------------------------------

def _session(c):
    return session_mod.current(getattr(c, "config", None))


def _infos():
    return {sid: t.serverswap_step for sid, t in tasks_by_id(load_phases()).items()}


@task
def plan(c, diff=False):
    """Plan (operator): the whole runbook in order with each step's state; --diff: what pending steps would change now."""
    session = _session(c)
    modules = load_phases()
    by_id = tasks_by_id(modules)
    infos = {sid: t.serverswap_step for sid, t in by_id.items()}
    records = list(session.journal.records())
    rows = plan_rows(records, infos, session.settings["checks"]["manual"])
    print(format_plan(rows), file=session.out, flush=True)
    if not diff:
        return rows
    print("\n-- what the pending steps would change now (dry run, read-only) --", file=session.out, flush=True)
    was_dry = session.dry
    session.dry = True
    for host in session.hosts.values():
        host.dry = True
    seen = set()
    try:
        for r in rows:
            info = r.get("info")
            if info is None or r["record"] and r["record"]["event"] == "done" or info.task_name in seen:
                continue
            seen.add(info.task_name)
            if info.manual or info.ids[0] in CHECK_STEPS:
                print(f"\n== {r['id']} {info.task_name}: {'manual' if info.manual else 'a check'}, changes nothing", file=session.out)
                continue
            try:
                by_id[r["id"]](c)
            except Exit as exc:
                print(f"   {info.task_name} would fail now: {getattr(exc, 'message', exc)}", file=session.out, flush=True)
    finally:
        session.dry = was_dry
        for host in session.hosts.values():
            host.dry = was_dry
    return rows


@task
def status(c):
    """Status (operator): where the swap stands: last done step, next step, failures, swap state per host."""
    session = _session(c)
    lines = status_lines(list(session.journal.records()), _infos(), session.settings)
    print("\n".join(lines), file=session.out, flush=True)
    return lines


@task
def report(c):
    """Report (operator): one HTML page (+ Markdown) of the run from the journal; prints its path."""
    session = _session(c)
    path = write_report(session.settings, list(session.journal.records()))
    print(f"report: {path}\n        {path.with_suffix('.md')}", file=session.out, flush=True)
    return path


@task
def rehearse(c, yes=False, force=False, step=False, reboot=True, hosts_file=None):
    """Rehearse (old, new, backup): prep through phase4 in runbook order on the hosts file's hosts, then the report.

    --no-reboot leaves out D5 (the reboot of old); --hosts-file FILE instead of $SERVERSWAP_HOSTS.
    """
    if hosts_file:
        os.environ["SERVERSWAP_HOSTS"] = str(Path(hosts_file).resolve())
        session = session_mod.current(getattr(c, "config", None), reset=True)
    else:
        session = _session(c)
    session.assume_yes |= yes
    session.force, session.step_mode = force, step
    modules = load_phases()
    order = [p for p in PHASES if p != "after"]
    done, failure = [], None
    print(f"rehearsal on {session.settings.path}: {', '.join(order)}", file=session.out, flush=True)
    for name in order:
        module = modules.get(name)
        phase_task = default_task(module) if module else None
        if phase_task is None:
            failure = (name, f"no default task for {name} (fabfile/{name}.py missing or without default)")
            break
        print(f"\n==== {name}", file=session.out, flush=True)
        accepts = inspect.signature(phase_task.body).parameters
        kwargs = {k: v for k, v in (("yes", yes), ("reboot", reboot)) if k in accepts}
        try:
            phase_task(c, **kwargs)
        except Exit as exc:
            failure = (name, getattr(exc, "message", None) or str(exc))
            break
        done.append(name)
    path = write_report(session.settings, list(session.journal.records()))
    print(f"\nreport: {path}", file=session.out, flush=True)
    if failure:
        rest = order[order.index(failure[0]):]
        print(f"rehearsal stopped in {failure[0]}: {failure[1]}\n  phases done: {', '.join(done) or 'none'}\n  not done: {', '.join(rest)}", file=sys.stderr)
        raise Exit(f"rehearsal stopped in {failure[0]}", code=1)
    print(f"rehearsal complete: {', '.join(done)}", file=session.out, flush=True)
    return path


TOP_LEVEL = [plan, status, report, rehearse]
