"""phase0: the morning of the swap. Lower the DNS TTL on new so the new addresses spread fast."""

from __future__ import annotations

from .ops import zones
from .steps import step

NS = "phase0"


@step("Z1", role="new", namespace=NS, name="lower-ttl", default=True)
def lower_ttl(s):
    """Z1 (new): $TTL -> ttl.lowered in the zone files, serials bumped, named-checkzone, reload BIND."""
    ttl = s.settings["ttl"]["lowered"]
    if not zones.apply_ttl(s, s.host, ttl):
        s.say(f"Z1: every zone file already has $TTL {ttl}: unchanged")
