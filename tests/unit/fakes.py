"""Stand-ins for hosts in unit tests of the step logic (which host, guard, journal).

Only `probe("hostname")` is answered: the role guard's question. Anything
that needs a real command belongs in a lab test.
"""

from types import SimpleNamespace


class FakeHost:
    def __init__(self, spec, hostname):
        self.spec, self.alias, self.hostname = spec, spec.alias, hostname
        self.c = SimpleNamespace(host=spec.address)
        self.task = self.step = None
        self.dry = False
        self.touched = []

    def probe(self, command, warn=True):
        return SimpleNamespace(stdout=self.hostname + "\n", ok=True)
