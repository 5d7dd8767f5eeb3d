"""The service back ends' logic around their commands (which command, how its answer is read).

Whether the commands do what they claim is shown on the lab, on both
profiles (sysvinit-style and real systemd); here a MockContext answers the
rendered argv, to pin how answers are read: an alias is resolved to its
unit, "on at boot" is the unit's UnitFileState (never is-enabled's exit 0),
and every change is read back.
"""

import io
from types import SimpleNamespace

import pytest
from invoke import Result

from fabfile.commands import Script, render
from fabfile.errors import RemoteError
from fabfile.remote import Host
from fabfile.services import PROPS_FOR_TEST, SysV, Systemd, ensure_enabled, ensure_running, parse_show, services_of, unit

SPEC = SimpleNamespace(alias="new", user="root")
SYSTEMD = render(["test", "-d", "/run/systemd/system"])


def show(name):
    return render(["systemctl", "show", "-p", PROPS_FOR_TEST, "--", name])


def props(**values):
    return Result("\n".join(f"{k}={v}" for k, v in values.items()) + "\n")


class Answers:
    """A connection's `run` answering rendered commands: a Result, or a list of them (in order, the last repeats)."""

    def __init__(self, responses):
        self.responses = {SYSTEMD: Result(exited=0)} | responses
        self.commands = []

    def run(self, command, **kwargs):
        self.commands.append(command)
        answer = self.responses.get(command)
        if answer is None:
            raise AssertionError(f"unexpected command: {command}")
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer


def host_with(responses, dry=False):
    c = Answers(responses)
    return Host(SPEC, SimpleNamespace(run=c.run, host="192.0.2.9"), dry=dry, out=io.StringIO()), c


def test_systemd_is_picked_when_it_is_pid_1():
    host, _ = host_with({})
    assert isinstance(services_of(host), Systemd)
    host, _ = host_with({SYSTEMD: Result(exited=1)})
    assert isinstance(services_of(host), SysV)


def test_an_alias_is_resolved_to_its_unit_and_its_state_word_counts():
    inetd = props(Id="inetd.service", LoadState="loaded", ActiveState="active", UnitFileState="disabled")
    host, _ = host_with({show("openbsd-inetd"): inetd})
    u = unit(host, "openbsd-inetd")
    assert (u.unit, u.exists, u.running, u.enabled) == ("inetd.service", True, True, False)
    assert u.label() == "openbsd-inetd (unit inetd.service)"


def test_an_alias_whose_link_is_gone_is_found_by_the_units_alias_line():
    from fabfile.services import ALIAS_OF, UNIT_DIRS

    grep = render(Script(ALIAS_OF, "bind9.service", *UNIT_DIRS))
    host, _ = host_with({
        show("bind9"): props(Id="bind9.service", LoadState="not-found", ActiveState="inactive", UnitFileState=""),
        grep: Result("/lib/systemd/system/named.service\n"),
        show("named.service"): props(Id="named.service", LoadState="loaded", ActiveState="active", UnitFileState="disabled"),
    })
    u = unit(host, "bind9")
    assert (u.unit, u.exists, u.running, u.enabled) == ("named.service", True, True, False)


def test_disable_runs_systemctl_on_the_real_unit_and_reads_it_back():
    enabled = props(Id="inetd.service", LoadState="loaded", ActiveState="inactive", UnitFileState="enabled")
    disabled = props(Id="inetd.service", LoadState="loaded", ActiveState="inactive", UnitFileState="disabled")
    disable = render(["systemctl", "disable", "--quiet", "inetd.service"])
    host, c = host_with({show("openbsd-inetd"): [enabled, disabled], disable: Result(exited=0)})
    assert ensure_enabled(host, "openbsd-inetd", False) is True
    assert "openbsd-inetd (unit inetd.service): off at boot now" in host.out.getvalue()
    assert disable in c.commands
    assert ensure_enabled(host, "openbsd-inetd", False) is False      # read back, and a second run is unchanged
    assert c.commands.count(disable) == 1


def test_a_change_the_init_system_does_not_show_fails_in_one_line():
    enabled = props(Id="inetd.service", LoadState="loaded", ActiveState="inactive", UnitFileState="enabled")
    host, _ = host_with({show("inetd"): enabled, render(["systemctl", "disable", "--quiet", "inetd.service"]): Result(exited=0)})
    with pytest.raises(RemoteError, match="is not off at boot after the change"):
        ensure_enabled(host, "inetd", False)


def test_dry_run_start_only_says_it():
    host, c = host_with({show("bind9"): props(Id="named.service", LoadState="loaded", ActiveState="inactive", UnitFileState="enabled")}, dry=True)
    assert ensure_running(host, "bind9") is True
    assert not any("systemctl start" in command for command in c.commands)
    assert "dry run: would run: systemctl start named.service" in host.out.getvalue()


def test_parse_show():
    assert parse_show("Id=a.service\nUnitFileState=alias\nx\n") == {"Id": "a.service", "UnitFileState": "alias"}


def test_the_alias_search_finds_a_units_alias_line_in_real_files(tmp_path):
    """The search script itself, run here on unit files shaped like Debian's named.service."""
    import subprocess

    from fabfile.services import ALIAS_OF

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "named.service").write_text("[Unit]\nDescription=BIND\n[Install]\nWantedBy=multi-user.target\nAlias=bind9.service\n")
    (tmp_path / "lib" / "other.service").write_text("[Install]\nAlias=notbind9.service x.service\n")
    out = subprocess.run(["sh", "-c", ALIAS_OF, "sh", "bind9.service", str(tmp_path / "etc"), str(tmp_path / "lib")],
                         capture_output=True, text=True).stdout.split()
    assert out == [str(tmp_path / "lib" / "named.service")]
