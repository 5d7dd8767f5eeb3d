"""phase3 logic: the init-script fallback for `status`, D5's process check, exact list files, qmail."""

from types import SimpleNamespace

import pytest

from fabfile import services
from fabfile.ops import daemons, mail
from fabfile.remote import EditResult, RemoteError

ETCH_APACHE = """\
#!/bin/sh -e
NAME=apache2
DAEMON=/usr/sbin/$NAME
ENV="env -i LANG=C PATH=/usr/local/bin:/usr/bin:/bin"
case $1 in
	start)
		$ENV /usr/sbin/apache2ctl start
	;;
	stop|graceful-stop)
		$ENV /usr/sbin/apache2ctl stop
	;;
	*)
		echo "Usage: /etc/init.d/apache2 start|stop|restart|reload|force-reload"
		exit 1
	;;
esac
"""

LAB_BIND = """\
NAMED=/usr/sbin/named
case "$1" in
start)
	start-stop-daemon --start --quiet --oknodo --pidfile $PIDFILE --exec $NAMED -- -c $CONF
	;;
status)
	status_of_proc -p $PIDFILE $NAMED bind
	;;
esac
"""


def test_status_support_is_read_from_the_script():
    assert not services.script_has_status(ETCH_APACHE)
    assert services.script_has_status(LAB_BIND)
    assert services.script_has_status("case $1 in\n  restart|status)\n;;\nesac\n")


def test_daemons_of_script_expands_variables():
    assert services.daemons_of_script(ETCH_APACHE, "apache2") == ["apache2"]
    assert services.daemons_of_script(LAB_BIND, "bind") == ["named", "bind"]
    assert services.daemons_of_script("DAEMON=/usr/sbin/inetd\n", "openbsd-inetd") == ["inetd", "openbsd-inetd"]
    assert services.daemons_of_script("", "qmail") == ["qmail"]


class ScriptHost:
    """A host whose init scripts are given; answers `status` and `pidof` the way the SysV back end asks."""

    def __init__(self, scripts, running):
        from fabfile.facts import Facts

        self.scripts, self.running, self.commands = scripts, running, []
        self.facts = Facts(self)

    def exists(self, path):
        return path.rsplit("/", 1)[1] in self.scripts

    def read_text(self, path):
        return self.scripts[path.rsplit("/", 1)[1]]

    def check(self, command):
        from fabfile.commands import Script

        self.commands.append(command)
        if isinstance(command, Script) and command.args[-1:] == ("status",):
            return command.args[0].rsplit("/", 1)[1] in self.running
        if isinstance(command, Script) and "pidof" in command.text:
            return any(n in self.running for n in command.args)
        if isinstance(command, Script) and "rc[2345]" in command.text:
            return False
        if list(command[:2]) == ["test", "-x"]:
            return True
        raise AssertionError(command)


def test_sysv_is_running_falls_back_to_pidof_without_status():
    host = ScriptHost({"apache2": ETCH_APACHE, "bind": LAB_BIND}, running={"apache2", "bind"})
    svc = services.SysV(host)
    assert svc.unit("apache2").running is True
    pidof = [c for c in host.commands if "pidof" in getattr(c, "text", "")]
    assert pidof and pidof[-1].args == ("apache2",)
    assert svc.unit("bind").running is True and ("/etc/init.d/bind", "status") in [getattr(c, "args", None) for c in host.commands]
    assert svc.unit("missing").exists is False
    host.running = set()
    assert svc.unit("apache2").running is False


def test_found_daemons_names_only_running_ones():
    wanted = {"apache2": ["apache2"], "openbsd-inetd": ["inetd", "openbsd-inetd"]}
    assert daemons.found_daemons({"named", "sshd", "bash"}, wanted) == {}
    assert daemons.found_daemons({"inetd", "named"}, wanted) == {"openbsd-inetd": ["inetd"]}


class FakeInit:
    """The service back end of MailHost: one service whose state the test sets; its script has `reload`."""

    name = "sysvinit"

    def __init__(self, host):
        self.host = host

    def _script(self, name):
        return "case $1 in\n  reload)\n    kill -HUP 1 ;;\nesac\n"

    def unit(self, name):
        return services.Unit(name, name, True, self.host.running, True)

    def run(self, unit, action):
        self.host.said.append(f"{action} {unit.name}")
        self.host.running = action in ("start", "restart", "reload")


class MailHost:
    def __init__(self, files, running=True, dry=False):
        from fabfile.facts import Facts

        self.files, self.running, self.dry, self.alias = dict(files), running, dry, "old"
        self.installed, self.said = [], []
        self.facts = Facts(self)
        self.facts.get("services", lambda: FakeInit(self))

    def owner_of(self, path):
        return "itpass:itpass"

    def exists(self, path):
        return path in self.files

    def edit(self, path, transform):
        after = transform(self.files[path])
        changed = after != self.files[path]
        self.files[path] = after
        return EditResult(path, changed=changed)

    def put_bytes(self, path, data, mode, owner):
        self.installed.append((path, mode, owner))
        self.files[path] = data.decode()
        return EditResult(path, changed=True)

    def say(self, message):
        self.said.append(message)

    def record(self, event, **fields):
        self.said.append(f"journal {event}")


class Step:
    def __init__(self):
        from fabfile import settings
        self.settings = settings.load(settings.DEFAULT_HOSTS_FILE)


def test_ensure_exact_edits_or_creates_like_the_directory():
    host = MailHost({"/var/qmail/control/locals": "localhost\nitpass.scitec.kobe-u.ac.jp\n"})
    assert mail.ensure_exact(host, "/var/qmail/control/locals", ["localhost"]).changed
    assert host.files["/var/qmail/control/locals"] == "localhost\n"
    assert not mail.ensure_exact(host, "/var/qmail/control/locals", ["localhost"]).changed
    mail.ensure_exact(host, "/home/itpass/ml/ml-ctrl/bouncer", ["a", "b"])
    assert host.installed == [("/home/itpass/ml/ml-ctrl/bouncer", 0o644, "itpass:itpass")]
    assert host.files["/home/itpass/ml/ml-ctrl/bouncer"] == "a\nb\n"


def test_set_control_covers_every_qmail_file():
    step = Step()
    host = MailHost({"/var/qmail/control/locals": "x\n", "/var/qmail/control/rcpthosts": "localhost\n"})
    assert mail.set_control(step, host, ["localhost"]) is True
    assert host.files == {"/var/qmail/control/locals": "localhost\n", "/var/qmail/control/rcpthosts": "localhost\n"}
    assert mail.set_control(step, host, ["localhost"]) is False


@pytest.mark.parametrize("running, changed, action", [
    (False, False, "started"), (False, True, "started"), (True, True, "reloaded"), (True, False, "unchanged"),
])
def test_qmail_runs_after_the_control_change(running, changed, action):
    host = MailHost({}, running=running)
    assert mail.qmail_running_after(Step(), host, changed) == action


def test_unknown_service_names_the_key():
    from fabfile.facts import Facts

    class NoServices:
        alias = "old"

        def __init__(self):
            self.facts = Facts(self)
            self.facts.get("services", lambda: SimpleNamespace(name="sysvinit", unit=lambda n: services.Unit(n, n, n == "apache2", False, False)))

    with pytest.raises(RemoteError, match=r"no service qmail here \(sysvinit\); fix stop_services.mail"):
        services.require(NoServices(), ["apache2", "qmail"], "stop_services.mail")
