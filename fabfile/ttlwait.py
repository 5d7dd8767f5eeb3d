"""The TTL wait: caches may keep the old records as long as the TTL that Z1 replaced.

Z1 journals, with its "done", the largest TTL it lowered (`ttl_replaced`,
seconds). phase1 (S2-S4: the outage starts there) refuses to start before
Z1's time + that TTL, showing the earliest safe time and how long is left;
--force (SERVERSWAP_FORCE=1) goes on anyway, with a journal note. `fab plan`
and `fab status` show the countdown. Pure: journal records in, answer out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def lowered(records) -> tuple[datetime, int] | None:
    """(when Z1 lowered the TTL, the TTL it replaced in seconds) of the last real Z1 that changed it."""
    found = None
    for record in records:
        if record.get("step") == "Z1" and record.get("ttl_replaced") is not None and not record.get("dry"):
            try:
                found = (datetime.fromisoformat(record["time"]), int(record["ttl_replaced"]))
            except (KeyError, ValueError, TypeError):
                continue
    return found


def safe_at(records) -> datetime | None:
    """The earliest time phase1 may start (None: Z1 changed nothing, or was not run)."""
    found = lowered(records)
    return found[0] + timedelta(seconds=found[1]) if found else None


def remaining(records, now: datetime | None = None) -> float:
    """Seconds left before phase1 may start (0 when it may)."""
    at = safe_at(records)
    if at is None:
        return 0.0
    now = now or datetime.now(timezone.utc)
    return max(0.0, (at - now).total_seconds())


def countdown_line(records, now: datetime | None = None) -> str | None:
    """`fab plan` / `fab status`: the TTL wait, while it lasts and phase1 has not started (kept or not)."""
    records = list(records)
    at = safe_at(records)
    left = remaining(records, now)
    if at is None or left <= 0 or _phase1_started(records):
        return None
    return f"TTL wait: phase1 may start at {at.isoformat(timespec='seconds')} ({hms(left)} from now; caches keep the old records until then)"


def _phase1_started(records) -> bool:
    since = lowered(records)[0].isoformat()
    return any(r.get("event") == "start" and str(r.get("step", "")) in ("S2", "S3", "S4") and not r.get("dry") and r.get("time", "") > since
               for r in records)


def hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
