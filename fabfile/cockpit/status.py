"""Where the night stands, from the journal alone (pure): plan rows, status lines, latest checks.

Everything here takes journal records (and the step registry's rows) and
returns data or text; nothing touches a host, so it is tested on synthetic
journals.
"""

from __future__ import annotations

from ..steps import step_states

CHECK_STEPS = ("V1", "V2", "V3", "V4", "V5", "V6", "B1")


def when(record) -> str:
    return str(record.get("time", ""))[:19].replace("T", " ")


def state_text(record) -> str:
    if not record:
        return "not done"
    if record["event"] == "done":
        return f"done at {when(record)}"
    return f"FAILED at {when(record)}: {record.get('detail', '')}"


def manual_answers(records) -> dict[str, dict]:
    answers: dict[str, dict] = {}
    for record in records:
        if record.get("event") == "manual" and record.get("item"):
            answers[record["item"]] = record
    return answers


def _manual_rows(records, manual_items) -> list[dict]:
    answers = manual_answers(records)
    rows = []
    for item in manual_items:
        answer = answers.get(item)
        words = {"yes": "confirmed", "no": "answered NO", "skip": "skipped"}
        state = f"{words.get(answer.get('answer'), '?')} at {when(answer)}" if answer else "pending"
        rows.append(dict(id="(V)", phase="phase4", task="phase4.manual", title=item, host="operator", kind="manual", state=state, record=answer))
    return rows


def plan_rows(records: list[dict], runbook, manual_items=()) -> list[dict]:
    """The runbook in order (registry rows (phase, id, info)): id, task, title, hosts, kind, state (+ the record)."""
    states = step_states(records)
    rows = []
    for phase, sid, info in runbook:
        record = states.get(info.ids[0])
        rows.append(dict(id=sid, phase=phase, task=info.task_name, title=info.title_of(sid), host=", ".join(info.hosts) or "-",
                         kind="check" if sid in CHECK_STEPS else "automated", state=state_text(record), record=record, info=info))
    position = next((i for i, r in enumerate(rows) if r["id"] == "B1"), len(rows)) + 1
    rows[position:position] = _manual_rows(records, manual_items)
    return rows


def format_plan(rows) -> str:
    head = ("ID", "task", "host", "kind", "state")
    table = [head] + [(r["id"], r["title"] if r["id"] == "(V)" else r["task"], r["host"], r["kind"], r["state"]) for r in rows]
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


def swap_state(records, aliases) -> dict[str, bool | None]:
    """Per host: True swapped, False not, None UNKNOWN (a move launched and not confirmed by its host key)."""
    state: dict[str, bool | None] = {alias: False for alias in aliases}
    for record in records:
        if record.get("host") in state and "swapped" in record:
            state[record["host"]] = None if record["swapped"] in (None, "unknown") else bool(record["swapped"])
    return state


def _progress_lines(rows) -> list[str]:
    done = [r for r in rows if r["record"] and r["record"]["event"] == "done"]
    failed = [r for r in rows if r["record"] and r["record"]["event"] == "failed"]
    lines = []
    if done:
        last = max(done, key=lambda r: r["record"]["time"])
        lines.append(f"last done: {last['id']} {last['task']} at {when(last['record'])}")
    else:
        lines.append("last done: nothing yet")
    following = next((r for r in rows if not (r["record"] and r["record"]["event"] == "done")), None)
    lines.append(f"next: {following['id']} {following['task']} ({following['title']})" if following else "next: nothing; every step is done")
    lines += [f"FAILED: {r['id']} {r['task']} at {when(r['record'])}: {r['record'].get('detail', '')}" for r in failed]
    lines.append(f"steps: {len(done)} done, {len(failed)} failed, {len(rows) - len(done) - len(failed)} not done (of {len(rows)})")
    return lines


def host_lines(records, settings) -> list[str]:
    lines = []
    swapped = swap_state(records, settings.hosts)
    for alias, spec in settings.hosts.items():
        if spec.role == "backup":
            continue
        s = swapped[alias]
        if s is None:
            lines.append(f"{alias}: UNKNOWN (its move was launched, not confirmed): its steps refuse until `fab locate` finds it by its host key "
                         f"(at {spec.address} or {spec.address_after})")
        else:
            lines.append(f"{alias}: {'SWAPPED' if s else 'not swapped'}, reached at {spec.address_for(s)} as {spec.hostname_for(s)}")
    return lines


def status_lines(records: list[dict], runbook, settings=None, extra=()) -> list[str]:
    """`fab status`: progress, failures, hosts, open exposures (`extra`: lines the caller adds), checks."""
    lines = _progress_lines(plan_rows(records, runbook))
    if settings is not None:
        lines += host_lines(records, settings)
    lines += list(extra)
    checks = [c for c in latest_checks(records) if c.get("ok") is not None]
    if checks:
        bad = [c for c in checks if not c.get("ok")]
        lines.append(f"checks: {len(checks) - len(bad)} OK, {len(bad)} FAIL" + (f" ({', '.join(c.get('check', '?') for c in bad[:3])})" if bad else ""))
    return lines
