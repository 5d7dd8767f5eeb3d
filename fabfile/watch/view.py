"""The report's users' view from the watcher's lines and new's mailbox (pure).

`users_view` gives the dict the report's `users_view` slot takes
(fabfile/cockpit/render.py): `services` (one row per service: service,
outages [(start_iso, end_iso, seconds)], total, probes) and `ledger` (the
line `mail ledger: sent N, delivered N, lost 0, duplicated 0`). The rest
(`mail`: the messages behind each count by tag; `targets`: the outages of
each target; `open`: services still out at their last probe; `rates`:
probes per second achieved; `watch`: the run's start and stop records)
is report data the renderers may show.
"""

from __future__ import annotations

from . import ledger as ledger_mod
from . import outages


def meta(records: list[dict]) -> dict:
    """The run's start and stop records (settings used, skipped services, CPU, rates), by event."""
    return {r["event"]: r for r in records if r.get("event") in ("start", "stop")}


def users_view(probe_lines, mailbox_texts=None, *, run: str | None = None) -> dict:
    """The users' view of one watch run (the last in the lines unless `run`).

    probe_lines: the lines of `<journal>.watch.jsonl` (text or dicts).
    mailbox_texts: new's mailbox(es) as mbox text, read at the end
    ({mailbox: text} or the recipient's text alone); None = not read (the
    ledger line then says so instead of giving counts it cannot know).
    """
    records = outages.select_run(outages.parse_lines(probe_lines), run)
    run = run or next((r["watch"] for r in reversed(records) if r.get("watch")), "")
    analysis = outages.analyse(records)
    view = dict(services=analysis["services"], ledger=None, mail=None, targets=analysis["targets"],
                open=analysis["open"], rates=outages.rates(records), watch=meta(records), run=run)
    sent = [letter for letter in ledger_mod.letters(records).values() if letter.accepted]
    if mailbox_texts is not None:
        book = ledger_mod.reconcile(records, mailbox_texts, run)
        view.update(ledger=book.line, mail=book.as_dict())
    elif ledger_mod.letters(records):
        view["ledger"] = f"mail ledger: sent {len(sent)}; new's mailbox was not read, so delivery is unknown"
    return view


def problems(view: dict) -> list[str]:
    """What makes a rehearsal fail in the users' view: each lost or duplicated message, by tag, with why."""
    mail = (view or {}).get("mail") or {}
    out = [f"mail lost: {m['tag']}: {m['why']}" for m in mail.get("lost", ())]
    out += [f"mail duplicated: {m['tag']} ({m['copies']} copies): {m['why']}" for m in mail.get("duplicated", ())]
    return out


def summary_lines(view: dict) -> list[str]:
    """The view as plain text for the terminal: one line per service, then the ledger."""
    lines = []
    for s in view.get("services", []):
        spans = ", ".join(f"{a[11:19]}-{b[11:19]} ({sec:.1f}s)" for a, b, sec in s["outages"]) or "none"
        rate = view.get("rates", {}).get(s["service"])
        lines.append(f"{s['service']:5} outages: {spans}; total {s['total']:.1f}s; {s['probes']} probes"
                     + (f" ({rate:g}/s)" if rate is not None else ""))
    if view.get("open"):
        lines.append(f"still out at the last probe: {', '.join(view['open'])}")
    if view.get("ledger"):
        lines.append(view["ledger"])
    lines += ["  " + p for p in problems(view)]
    return lines
