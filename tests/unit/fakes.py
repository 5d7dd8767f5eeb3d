"""Stand-ins for hosts in unit tests of the step logic (which host, guard, journal).

Only `probe("hostname")` is answered: the role guard's question. Anything
that needs a real command belongs in a lab test.
"""

from types import SimpleNamespace


class FakeHost:
    def __init__(self, spec, hostname):
        self.spec, self.alias, self.hostname = spec, spec.alias, hostname
        self.address = spec.address
        self.task = self.step = self.tx = None
        self.dry = False
        self.touched = []

    def probe(self, command, timeout=None):
        assert list(command) == ["hostname"], f"a stand-in host answers only the role guard, not {command!r}"
        return SimpleNamespace(stdout=self.hostname + "\n", ok=True)


def fake_session(tmp_path):
    """A real Session over the shipped hosts.toml whose hosts are FakeHosts, made current.

    Returns (session, names): `names` is each alias's hostname, read when the
    host is first asked for, so a test can make a machine answer wrongly.
    The caller resets the current session (session.set_current(None)).
    """
    import io
    import threading

    from fabfile import session as session_mod
    from fabfile import settings as settings_mod

    settings = settings_mod.load(settings_mod.DEFAULT_HOSTS_FILE).replace(
        operator={"journal": str(tmp_path / "journal.jsonl"), "report_dir": str(tmp_path / "reports")})
    session = session_mod.Session(settings, out=io.StringIO())
    names = {"old": "itpass", "new": "ika-itpass", "backup": "dennou"}
    lock = threading.Lock()

    def host(alias):
        with lock:
            return session.hosts.setdefault(alias, FakeHost(settings.host(alias), names[alias]))

    session.host = host
    session_mod.set_current(session)
    return session, names
