"""phase0: the morning of the swap. Lower the DNS TTL on new so the new addresses spread fast."""

from __future__ import annotations

from .ops import zones
from .steps import step
from .transaction import recover

NS = "phase0"


@step("Z1", role="new", namespace=NS, name="lower-ttl", title="lower the DNS TTL on new", default=True)
def lower_ttl(s):
    """Z1 (new): TTLs -> ttl.lowered in the zone files (by value), serials bumped, named-checkzone, reload; DNS answers it."""
    if recover(s, s.host):
        return
    zones.apply_ttl(s, s.host, s.settings.ttl.lowered)
