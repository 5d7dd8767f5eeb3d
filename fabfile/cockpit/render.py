"""The report's two faces: Markdown (for a ticket) and one self-contained HTML page (report.html + report.css).

Both take the model of report.py and return text; every shown string is
escaped (HTML) or has its table separators escaped (Markdown). Secrets
never reach here (the journal holds none), and the page passes the one
secret filter on the way out anyway (tasks.write_report).
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

from .report import clock, hms, parse_time, verdict

HERE = Path(__file__).resolve().parent


def _md(value) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def runs_text(model: dict) -> str:
    return ", ".join(f"{r['run']} ({r['user']})" for r in model["runs"]) or "none"


def window_text(w: dict, bold=lambda text: text) -> str:
    if w["start"] and w["end"]:
        return (f"From {w['start']} (first service stopped on old: {w['start_what']}) to {w['end']} "
                f"(last passing check on new: {w['end_what']}): {bold(hms(w['seconds']))}.")
    if w["start"]:
        return f"Opened {w['start']} ({w['start_what']}); no passing check on new since: the window is still open."
    return "No service was stopped on old yet."


def _md_table(head: list[str], rows) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(_md(x) for x in row) + " |" for row in rows]


def _md_users_view(view) -> list[str]:
    if not view:
        return []
    out = ["", "## The users' view (measured from outside)", ""]
    out += _md_table(["service", "outages", "total", "probes"],
                     [(s["service"], ", ".join(f"{clock(a)}-{clock(b)} ({hms(sec)})" for a, b, sec in s["outages"]) or "none",
                       hms(s["total"]), s["probes"]) for s in view.get("services", [])])
    if view.get("ledger"):
        out += ["", view["ledger"]]
    return out


def render_markdown(model: dict) -> str:
    out = [f"# {model['title']}", "", f"Hosts file: `{model['hosts_file']}`  ", f"Generated: {model['generated']}  ",
           f"Journal: {model['first'] or '-'} to {model['last'] or '-'}, runs: {runs_text(model)}", ""]
    if model.get("exposures"):
        out += ["## OPEN exposures", ""] + [f"- **{_md(x)}**" for x in model["exposures"]] + [""]
    out += ["## Service window", "", window_text(model["window"], lambda text: f"**{text}**")]
    out += _md_users_view(model.get("users_view"))
    out += ["", "## Timeline", ""] + _md_table(
        ["start", "end", "duration", "step", "task", "host", "user", "outcome", "changes", "detail"],
        [(e["start"], e["end"], hms(e["duration"]), e["step"], e["task"], e["host"], e["user"], e["outcome"], e["changes"], e["detail"])
         for e in model["executions"]])
    if model["dry_executions"]:
        out.append(f"\n({model['dry_executions']} dry-run step execution(s) not shown.)")
    out += ["", "## Changes and their backups", ""] + _md_table(
        ["time", "host", "step", "path", "backup", "what"],
        [(c.get("time"), c.get("host"), c.get("step"), c.get("path") or "-", c.get("backup") or "-", c.get("detail") or "") for c in model["changes"]])
    out += ["", "## Checks", ""] + _md_table(
        ["check", "host", "expected", "seen", "result", "time"],
        [(c.get("check") or f"{c.get('step')} {c.get('task')}", c.get("host"), c.get("expected"), c.get("seen") or c.get("detail"), verdict(c), c.get("time"))
         for c in model["checks"]])
    out += ["", "## Manual confirmations", ""] + _md_table(
        ["item", "answer", "time", "by"], [(m["item"], m["answer"], m["time"] or "-", m["user"] or "-") for m in model["manual"]])
    return "\n".join(out) + "\n"


def _row(cells, cls="") -> str:
    return "<tr" + (f' class="{cls}"' if cls else "") + ">" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _bar(item, t0, span) -> str:
    start = parse_time(item["start"])
    if not (start and t0 and span):
        return ""
    left = (start - t0).total_seconds() / span * 100
    width = max(float(item["duration"] or 0) / span * 100, 0.2)
    cls = html.escape(item["outcome"].split()[0])
    return f'<div class="bar"><span class="{cls}" style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%"></span></div>'


def _timeline_html(model) -> str:
    e = html.escape
    t0, t1 = parse_time(model["first"]), parse_time(model["last"])
    span = (t1 - t0).total_seconds() if t0 and t1 and t1 > t0 else 0
    return "\n".join(_row([e(clock(x["start"])), e(hms(x["duration"])), e(x["step"] or ""), e(x["task"] or ""), e(x["host"] or ""),
                           e(x["user"] or ""), f'<span class="{e(x["outcome"].split()[0])}">{e(x["outcome"])}</span>', str(x["changes"]),
                           e(x["detail"] or ""), _bar(x, t0, span)], "step") for x in model["executions"])


def _checks_html(model) -> str:
    e = html.escape
    rows = []
    for c in model["checks"]:
        v = verdict(c)
        result = f'<span class="{v.lower()}">{v}</span>' + (f"<br><small>{e(c.get('detail'))}</small>" if c.get("detail") else "")
        rows.append(_row([e(c.get("check") or f"{c.get('step')} {c.get('task')}"), e(c.get("host") or ""), e(c.get("expected") or ""),
                          e(c.get("seen") or ""), result, e(clock(c.get("time")))], "check"))
    return "\n".join(rows)


def _users_view_html(view) -> str:
    if not view:
        return ""
    e = html.escape
    rows = "\n".join(_row([e(s["service"]), e(", ".join(f"{clock(a)}-{clock(b)} ({hms(sec)})" for a, b, sec in s["outages"]) or "none"),
                           e(hms(s["total"])), str(s["probes"])], "outage") for s in view.get("services", []))
    ledger = f'<p id="ledger">{e(view["ledger"])}</p>' if view.get("ledger") else ""
    return ('<h2>The users\' view (measured from outside)</h2><table id="outages"><thead><tr><th>service</th><th>outages</th>'
            f"<th>total</th><th>probes</th></tr></thead><tbody>\n{rows}\n</tbody></table>{ledger}")


def render_html(model: dict) -> str:
    e = html.escape
    exposures = "".join(f'<li class="exposure">{e(x)}</li>' for x in model.get("exposures") or ())
    fields = dict(
        title=e(model["title"]), css=(HERE / "report.css").read_text(encoding="utf-8"), hosts_file=e(model["hosts_file"]),
        generated=e(model["generated"]), first=e(model["first"] or "-"), last=e(model["last"] or "-"), runs=e(runs_text(model)),
        exposures=f'<h2 id="exposures">OPEN exposures</h2><ul>{exposures}</ul>' if exposures else "",
        window=e(window_text(model["window"])), users_view=_users_view_html(model.get("users_view")),
        timeline=_timeline_html(model), checks=_checks_html(model),
        dry_note=f"<p>({model['dry_executions']} dry-run step execution(s) not shown.)</p>" if model["dry_executions"] else "",
        changes="\n".join(_row([e(clock(c.get("time"))), e(c.get("host") or ""), e(c.get("step") or ""), f"<code>{e(c.get('path') or '-')}</code>",
                                f"<code>{e(c.get('backup') or '-')}</code>", e(c.get("detail") or "")], "change") for c in model["changes"]),
        manual="\n".join(_row([e(m["item"]), e(m["answer"] or ""), e(m["time"] or "-"), e(m["user"] or "-")], "manual") for m in model["manual"]),
    )
    return Template((HERE / "report.html").read_text(encoding="utf-8")).substitute(fields)
