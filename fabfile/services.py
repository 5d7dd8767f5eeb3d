"""Services behind one interface, with a sysvinit and a systemd back end.

The seed's servers boot the sysvinit way (`/etc/init.d/X`, `update-rc.d`);
newer replacements may run systemd. Tasks say what they want ("off at boot")
and the back end picked per host says how.
"""

from __future__ import annotations

import re

from .remote import Host, q

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*(?:#.*)?$")
_STATUS_CASE = re.compile(r"^\s*\(?\s*(?:[\w|-]+\|)?status(?:\|[\w|-]+)?\s*\)", re.MULTILINE)
_EXEC = re.compile(r"--exec\s+(\S+)")


def script_has_status(text: str) -> bool:
    """Does an init script handle `status` (a `status)` case label)?

    Old sysvinit scripts (Debian etch/lenny era) often do not: they answer
    `status` with a usage message and an exit code that means nothing.
    """
    return bool(_STATUS_CASE.search(text))


def daemons_of_script(text: str, service: str) -> list[str]:
    """The program names an init script starts, for `pidof` (pure).

    Reads simple `VAR=value` assignments (expanding $VAR / ${VAR} from earlier
    ones), then takes DAEMON and every `--exec X`; the service name is the
    last resort. Returns basenames, in that order, without duplicates.
    """
    values: dict[str, str] = {}

    def expand(value: str) -> str:
        value = value.strip("'\"")
        return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values.get(m.group(1), ""), value)

    for line in text.splitlines():
        match = _ASSIGN.match(line)
        if match:
            values[match.group(1)] = expand(match.group(2))
    found = []
    if values.get("DAEMON"):
        found.append(values["DAEMON"])
    found += [expand(m.group(1)) for m in _EXEC.finditer(text)]
    names = []
    for path in found + [service]:
        base = path.rstrip("/").rsplit("/", 1)[-1]
        if base and "$" not in base and base not in names:
            names.append(base)
    return names


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

    def _script(self, service: str) -> str | None:
        cache = self.__dict__.setdefault("_scripts", {})
        if service not in cache:
            path = f"/etc/init.d/{service}"
            cache[service] = self.host.read_text(path) if self.host.exists(path) else None
        return cache[service]

    def is_running(self, service: str) -> bool:
        """`/etc/init.d/X status` when the script has it, else `pidof` of its daemon."""
        script = self._script(service)
        if script is None:
            return False
        if script_has_status(script):
            return self.host.probe(self._action(service, "status") + " >/dev/null 2>&1").ok
        names = " ".join(q(name) for name in daemons_of_script(script, service))
        return self.host.check(f"for d in {names}; do pidof -x \"$d\" >/dev/null && exit 0; done; exit 1")

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


def ensure_running(host: Host, service: str, running: bool = True) -> bool:
    """Start (or with running=False stop) unless already so; True when something was (or would be) done."""
    svc = services_of(host)
    state = "running" if running else "stopped"
    if svc.is_running(service) == running:
        host.say(f"{service}: {state}, unchanged")
        return False
    (svc.start if running else svc.stop)(service)
    if not host.dry:
        host.say(f"{service}: {'started' if running else 'stopped'}")
    return True


def ensure_stopped(host: Host, service: str) -> bool:
    return ensure_running(host, service, running=False)


def ensure_enabled(host: Host, service: str, enabled: bool = True) -> bool:
    svc = services_of(host)
    if svc.is_enabled(service) == enabled:
        host.say(f"{service}: {'on' if enabled else 'off'} at boot, unchanged")
        return False
    (svc.enable if enabled else svc.disable)(service)
    if not host.dry:
        host.say(f"{service}: {'on' if enabled else 'off'} at boot now")
    return True
