"""Outages as users saw them, from the watcher's probe lines (pure: standard library only).

A target (one URL, one name asked of one DNS server, one mailbox, one
recipient) is out from its first failed probe to its next successful one:
that is what a user retrying it would have seen, to the resolution of the
probe rate. A service is out while any of its targets is out (some user's
request fails): its outages are the union of its targets' outages, each
target judged on its own probes only, so targets probed in interleaved
order never cut each other's runs short. Targets that are alternatives
for the user carry the same `group` (one DNS name asked of each of the
site's DNS servers: a resolver that gets no answer from one asks the
next): a group is out only while all of its targets are out (the
intersection), and the service while any group is out. An outage still
going at the last probe of its target is open: it lasts to the service's
last probe (it had not ended when the watch did).
"""

from __future__ import annotations

import json
from datetime import datetime

SERVICE_ORDER = ("http", "dns", "pop", "smtp")


def parse_lines(lines) -> list[dict]:
    """JSON objects from text lines (or dicts as they are); a torn or foreign line is skipped, not fatal."""
    records = []
    for line in lines:
        if isinstance(line, dict):
            records.append(line)
            continue
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def select_run(records: list[dict], run: str | None = None) -> list[dict]:
    """The records of one watch run: `run`, else the last run in the file (a file may hold several)."""
    if run is None:
        runs = [r.get("watch") for r in records if r.get("watch")]
        run = runs[-1] if runs else None
    return [r for r in records if r.get("watch") == run] if run else list(records)


def probes(records: list[dict]) -> list[dict]:
    """The probe records (service, target, time, ok), time-sorted; meta records (start, stop) left out."""
    found = []
    for r in records:
        if r.get("service") and r.get("target") is not None and "ok" in r:
            t = _time(r.get("time"))
            if t is not None:
                found.append(dict(r, _t=t))
    return sorted(found, key=lambda r: r["_t"])


def _time(ts) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None


def target_intervals(target_probes: list[dict]) -> list[tuple[datetime, datetime, bool]]:
    """(start, end, open) of each run of failures of one target: first failure to next success."""
    out, start, last = [], None, None
    for p in target_probes:
        if not p.get("ok"):
            start = start or p["_t"]
        elif start is not None:
            out.append((start, p["_t"], False))
            start = None
        last = p["_t"]
    if start is not None:
        out.append((start, last, True))
    return out


def merge(intervals) -> list[tuple[datetime, datetime, bool]]:
    """The union of intervals (overlapping or touching ones become one; open if any part is)."""
    merged: list[list] = []
    for start, end, is_open in sorted(intervals, key=lambda i: (i[0], i[1])):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] = merged[-1][2] or is_open
        else:
            merged.append([start, end, is_open])
    return [tuple(m) for m in merged]


def intersect(a, b) -> list[tuple[datetime, datetime, bool]]:
    """The times both interval lists are out (each list disjoint and sorted, as merge gives them)."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        both_open = a[i][2] and b[j][2]
        if start < end or (start == end and both_open):
            out.append((start, end, both_open))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def group_outages(per_target: dict[str, list], groups: dict[str, str]) -> list[tuple[datetime, datetime, bool]]:
    """A service's outages from its targets' intervals: intersection within a group, union across groups."""
    by_group: dict[str, list] = {}
    for target, intervals in per_target.items():
        by_group.setdefault(groups.get(target) or target, []).append(merge(intervals))
    out = []
    for members in by_group.values():
        common = members[0]
        for other in members[1:]:
            common = intersect(common, other)
        out.extend(common)
    return merge(out)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _row(intervals) -> tuple[list[tuple[str, str, float]], float]:
    rows = [(_iso(a), _iso(b), round((b - a).total_seconds(), 3)) for a, b, _ in intervals]
    return rows, round(sum(r[2] for r in rows), 3)


def by_target(found: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for p in found:
        groups.setdefault((p["service"], str(p["target"])), []).append(p)
    return groups


def _rank(service: str) -> tuple[int, str]:
    return (SERVICE_ORDER.index(service) if service in SERVICE_ORDER else len(SERVICE_ORDER), service)


def _ordered(services) -> list[str]:
    return sorted(services, key=_rank)


def _service_rows(groups: dict, per_target: dict) -> tuple[list[dict], list[str]]:
    by_service: dict[str, list] = {}
    for (service, target), items in groups.items():
        by_service.setdefault(service, []).append((target, items))
    services, still_out = [], []
    for service in _ordered(by_service):
        members = by_service[service]
        alternatives = {t: items[0].get("group", "") for t, items in members}
        merged = group_outages({t: per_target[(service, t)] for t, _ in members}, alternatives)
        rows, total = _row(merged)
        services.append(dict(service=service, outages=rows, total=total, probes=sum(len(items) for _, items in members)))
        if merged and merged[-1][2]:
            still_out.append(service)
    return services, still_out


def analyse(records: list[dict]) -> dict:
    """{"services": [{service, outages, total, probes}], "targets": [...], "open": [service, ...]} of probe records."""
    groups = by_target(probes(records))
    horizon: dict[str, datetime] = {}
    for (service, _), items in groups.items():
        horizon[service] = max(horizon.get(service, items[-1]["_t"]), items[-1]["_t"])
    # an outage still open at a target's last probe lasts to the service's last probe: it had not ended when the watch did
    per_target = {key: [(a, max(b, horizon[key[0]]) if is_open else b, is_open) for a, b, is_open in target_intervals(items)]
                  for key, items in groups.items()}
    targets = []
    for (service, target), items in groups.items():
        rows, total = _row(per_target[(service, target)])
        targets.append(dict(service=service, target=target, outages=rows, total=total, probes=len(items),
                            failed=sum(not p.get("ok") for p in items)))
    services, still_out = _service_rows(groups, per_target)
    targets.sort(key=lambda t: (_rank(t["service"]), t["target"]))
    return dict(services=services, targets=targets, open=still_out)


def rates(records: list[dict]) -> dict[str, float]:
    """Probes per second achieved by each service, over its first to last probe."""
    found = probes(records)
    out = {}
    for service in _ordered({p["service"] for p in found}):
        times = [p["_t"] for p in found if p["service"] == service]
        span = (times[-1] - times[0]).total_seconds()
        out[service] = round((len(times) - 1) / span, 2) if span > 0 else 0.0
    return out
