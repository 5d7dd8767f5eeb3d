"""The systemd back end: picked by what PID 1 is, and the commands it gives.

The lab boots the sysvinit way, so the systemd back end is shown here on a
MockContext: which commands it runs and that `ensure_*` is idempotent.
"""

import io
from types import SimpleNamespace

from invoke import MockContext, Result

from fabfile.remote import Host
from fabfile.services import SysV, Systemd, ensure_enabled, ensure_running, services_of

SPEC = SimpleNamespace(alias="new", user="root")


def host_with(responses, dry=False):
    c = MockContext(run=responses, repeat=True)
    return Host(SPEC, c, dry=dry, out=io.StringIO()), c


def test_systemd_is_picked_when_it_is_pid_1():
    host, _ = host_with({"test -d /run/systemd/system": Result(exited=0)})
    assert isinstance(services_of(host), Systemd)
    host, _ = host_with({"test -d /run/systemd/system": Result(exited=1)})
    assert isinstance(services_of(host), SysV)


def test_systemd_disable_runs_systemctl_and_twice_is_unchanged():
    host, c = host_with({
        "test -d /run/systemd/system": Result(exited=0),
        "systemctl is-enabled --quiet apache2": Result(exited=0),
        "systemctl disable --quiet apache2": Result(exited=0),
    })
    assert ensure_enabled(host, "apache2", False) is True
    assert c.run.call_args_list[-1].args[0] == "systemctl disable --quiet apache2"
    host, c = host_with({
        "test -d /run/systemd/system": Result(exited=0),
        "systemctl is-enabled --quiet apache2": Result(exited=1),
    })
    assert ensure_enabled(host, "apache2", False) is False
    assert "off at boot, unchanged" in host.out.getvalue()


def test_systemd_start_in_a_dry_run_only_says_it():
    host, c = host_with({
        "test -d /run/systemd/system": Result(exited=0),
        "systemctl is-active --quiet bind9": Result(exited=3),
    }, dry=True)
    assert ensure_running(host, "bind9") is True
    assert all("systemctl start" not in call.args[0] for call in c.run.call_args_list)
    assert "dry run: would run: systemctl start bind9" in host.out.getvalue()
