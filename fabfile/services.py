"""Services behind one interface, with a sysvinit and a systemd back end.

The seed's servers boot the sysvinit way (`/etc/init.d/X`, `update-rc.d`);
newer replacements may run systemd. Tasks say what they want ("off at boot")
and the back end picked per host says how.
"""

from __future__ import annotations

from .remote import Host, q


class SysV:
    name = "sysvinit"

    def __init__(self, host: Host, runlevel: int = 2):
        self.host = host
        self.runlevel = runlevel

    def _action(self, service: str, action: str) -> str:
        # A script disabled the seed's way is mode 644: run it through sh.
        path = f"/etc/init.d/{service}"
        return f"if [ -x {q(path)} ]; then {q(path)} {action}; else sh {q(path)} {action}; fi"

    def exists(self, service: str) -> bool:
        return self.host.exists(f"/etc/init.d/{service}")

    def is_running(self, service: str) -> bool:
        return self.host.probe(self._action(service, "status") + " >/dev/null 2>&1").ok

    def is_enabled(self, service: str) -> bool:
        path = f"/etc/init.d/{service}"
        return self.host.check(f"[ -x {q(path)} ] && ls /etc/rc{self.runlevel}.d/S??{q(service)} >/dev/null 2>&1")

    def start(self, service: str):
        return self.host.change(self._action(service, "start"), what=f"/etc/init.d/{service} start", hide=True)

    def stop(self, service: str):
        return self.host.change(self._action(service, "stop"), what=f"/etc/init.d/{service} stop", hide=True)

    def restart(self, service: str):
        return self.host.change(self._action(service, "restart"), what=f"/etc/init.d/{service} restart", hide=True)

    def enable(self, service: str):
        """The seed's reverse of D3: `update-rc.d X defaults; chmod 755 X`."""
        return self.host.change(
            f"cd /etc/init.d && update-rc.d {q(service)} defaults >/dev/null && chmod 755 {q(service)}",
            what=f"update-rc.d {service} defaults; chmod 755 /etc/init.d/{service}",
        )

    def disable(self, service: str):
        """The seed's D3: `update-rc.d -f X remove; chmod 644 X` (stays off after a reboot)."""
        return self.host.change(
            f"cd /etc/init.d && update-rc.d -f {q(service)} remove >/dev/null && chmod 644 {q(service)}",
            what=f"update-rc.d -f {service} remove; chmod 644 /etc/init.d/{service}",
        )


class Systemd:
    name = "systemd"

    def __init__(self, host: Host):
        self.host = host

    def exists(self, service: str) -> bool:
        return self.host.check(f"systemctl cat {q(service)} >/dev/null 2>&1")

    def is_running(self, service: str) -> bool:
        return self.host.check(f"systemctl is-active --quiet {q(service)}")

    def is_enabled(self, service: str) -> bool:
        return self.host.check(f"systemctl is-enabled --quiet {q(service)}")

    def start(self, service: str):
        return self.host.change(f"systemctl start {q(service)}")

    def stop(self, service: str):
        return self.host.change(f"systemctl stop {q(service)}")

    def restart(self, service: str):
        return self.host.change(f"systemctl restart {q(service)}")

    def enable(self, service: str):
        return self.host.change(f"systemctl enable --quiet {q(service)}")

    def disable(self, service: str):
        return self.host.change(f"systemctl disable --quiet {q(service)}")


def services_of(host: Host):
    """Pick the back end by what runs as PID 1 on that host (cached on the Host)."""
    backend = getattr(host, "_services", None)
    if backend is None:
        systemd = host.check("test -d /run/systemd/system")
        backend = Systemd(host) if systemd else SysV(host)
        host._services = backend
    return backend


def ensure_running(host: Host, service: str) -> bool:
    """Start unless running; True when something was (or would be) done."""
    svc = services_of(host)
    if svc.is_running(service):
        host.say(f"{service}: running, unchanged")
        return False
    svc.start(service)
    return True


def ensure_stopped(host: Host, service: str) -> bool:
    svc = services_of(host)
    if not svc.is_running(service):
        host.say(f"{service}: stopped, unchanged")
        return False
    svc.stop(service)
    return True


def ensure_enabled(host: Host, service: str, enabled: bool = True) -> bool:
    svc = services_of(host)
    if svc.is_enabled(service) == enabled:
        host.say(f"{service}: {'on' if enabled else 'off'} at boot, unchanged")
        return False
    (svc.enable if enabled else svc.disable)(service)
    return True
