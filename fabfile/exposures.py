"""Open exposures: what the night has left open on a host, tracked in the journal until closed.

Root login open on new (P1/C1 until P4/C5), root's authorized_keys on old
renamed (C6, until a back-out), the services stopped on old (S2/S4, until
new's checks pass or a back-out starts them again), a host whose move was
launched and not confirmed (C10, until `fab locate` finds it). Each is a
journal "note" with `exposure` = its kind and `state` = "open" or
"closed" — closed by an explicit record, never by a missing field — and
`fab status`, `fab plan`, the report and the start of every run list those
still open, since when, and the command that closes each.
"""

from __future__ import annotations

ROOT_LOGIN = "root-login-open"
AUTHKEYS = "authorized-keys-renamed"
SERVICES = "services-stopped"
UNKNOWN = "host-unknown"

WHAT = {
    ROOT_LOGIN: ("root login is OPEN on {host} (for old's key)", "fab phase2.close-root-login (or prep.restore-root-login)"),
    AUTHKEYS: ("root's authorized_keys on {host} is renamed away (root key login to old refused)", "fab backout (to put it back)"),
    SERVICES: ("services are STOPPED on {host}: {detail}", "fab phase4 (new serves the site) or fab backout"),
    UNKNOWN: ("{host} is UNKNOWN: its move was launched, not confirmed; its steps refuse", "fab locate"),
}


def open_exposure(step, host, kind: str, detail: str = "", **data) -> None:
    step.session.journal.write("note", host=host.alias, task=step.info.task_name, step=step.info.ids[0],
                               exposure=kind, state="open", detail=WHAT[kind][0].format(host=host.alias, detail=detail), **data)


def close_exposure(step, host, kind: str, detail: str = "") -> None:
    step.session.journal.write("note", host=host.alias, task=step.info.task_name, step=step.info.ids[0],
                               exposure=kind, state="closed", detail=detail or f"{kind} closed")


def latest(records, kind: str, alias: str) -> dict | None:
    """The last record of `kind` for `alias` (open or closed), or None."""
    found = None
    for record in records:
        if record.get("exposure") == kind and record.get("host") == alias:
            found = record
    return found


def still_open(records) -> list[dict]:
    """The open exposures, one per (kind, host), each with the time it opened."""
    state: dict[tuple, dict] = {}
    for record in records:
        kind = record.get("exposure")
        if not kind:
            continue
        key = (kind, record.get("host"))
        if record.get("state") == "open":
            state.setdefault(key, record)
        else:
            state.pop(key, None)
    return list(state.values())


def open_exposure_lines(records, settings=None) -> list[str]:
    """One line per open exposure: what, on which host, since when, and the command that closes it."""
    lines = []
    for record in still_open(list(records)):
        what, fix = WHAT.get(record["exposure"], (record["exposure"], "see the journal"))
        since = str(record.get("time", ""))[:19].replace("T", " ")
        lines.append(f"OPEN since {since}: {record.get('detail') or what.format(host=record.get('host'), detail='')}; close: {fix}")
    return lines
