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
    def __init__(self, scripts, running):
        self.scripts, self.running, self.commands = scripts, running, []

    def exists(self, path):
        return path.rsplit("/", 1)[1] in self.scripts

    def read_text(self, path):
        return self.scripts[path.rsplit("/", 1)[1]]

    def probe(self, command, warn=True):
        self.commands.append(command)
        if " status;" in command:
            return SimpleNamespace(ok=any(f"/etc/init.d/{s} " in command for s in self.running))
        raise AssertionError(command)

    def check(self, command):
        self.commands.append(command)
        assert command.startswith("for d in ")
        names = command[len("for d in "):].split(";")[0].split()
        return any(n in self.running for n in names)


def test_sysv_is_running_falls_back_to_pidof_without_status():
    host = ScriptHost({"apache2": ETCH_APACHE, "bind": LAB_BIND}, running={"apache2", "bind"})
    svc = services.SysV(host)
    assert svc.is_running("apache2") is True
    assert host.commands[-1].startswith("for d in apache2;")
    assert svc.is_running("bind") is True and "/etc/init.d/bind status;" in host.commands[-1]
    assert svc.is_running("missing") is False
    host.running = set()
    assert svc.is_running("apache2") is False


def test_found_daemons_names_only_running_ones():
    wanted = {"apache2": ["apache2"], "openbsd-inetd": ["inetd", "openbsd-inetd"]}
    assert daemons.found_daemons({"named", "sshd", "bash"}, wanted) == {}
    assert daemons.found_daemons({"inetd", "named"}, wanted) == {"openbsd-inetd": ["inetd"]}


class MailHost:
    def __init__(self, files, running=True, dry=False):
        self.files, self.running, self.dry, self.alias = dict(files), running, dry, "old"
        self.installed, self.said, self._services = [], [], self

    # the service back end, in the same object
    def is_running(self, name):
        return self.running

    def start(self, name):
        self.said.append(f"start {name}")

    def restart(self, name):
        self.said.append(f"restart {name}")

    def exists(self, path):
        return path in self.files

    def edit(self, path, transform):
        after = transform(self.files[path])
        changed = after != self.files[path]
        self.files[path] = after
        return EditResult(path, changed=changed)

    def probe(self, command, warn=True):
        assert command.startswith("stat -c %U:%G")
        return SimpleNamespace(stdout="itpass:itpass\n", ok=True)

    def put_bytes(self, path, data, mode, owner):
        self.installed.append((path, mode, owner))
        self.files[path] = data.decode()
        return EditResult(path, changed=True)

    def say(self, message):
        self.said.append(message)


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
    (False, False, "started"), (False, True, "started"), (True, True, "restarted"), (True, False, "unchanged"),
])
def test_qmail_runs_after_the_control_change(running, changed, action):
    host = MailHost({}, running=running)
    assert mail.qmail_running_after(Step(), host, changed) == action


def test_unknown_service_names_the_key():
    class NoServices:
        alias = "old"
        _services = SimpleNamespace(exists=lambda name: name == "apache2")

    with pytest.raises(RemoteError, match="no service qmail here; fix stop_services.mail"):
        daemons.require(NoServices(), ["apache2", "qmail"], "stop_services.mail")
