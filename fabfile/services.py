"""Services behind one interface, with a sysvinit and a systemd back end, proven by the init system's state.

The seed's servers boot the sysvinit way (`/etc/init.d/X`, `update-rc.d`);
their replacements run systemd. Tasks say what they want ("off at boot")
and the back end picked per host (by what runs as PID 1) says how. hosts.toml
may name the runbook's names (`openbsd-inetd`, `bind9`) or unit names
(`inetd`, `named`): on systemd a name is resolved to its real unit first
(an alias such as `openbsd-inetd` -> `inetd.service`, or `bind9`, whose alias
link exists only while `named` is enabled), and the tool says which unit it
acted on.

What counts is what the init system reports, never an exit status that
means something else: `systemctl is-enabled` exits 0 for `alias`, `static`,
`indirect`..., so "on at boot" is the real unit's `UnitFileState=enabled`
(or, for a unit generated from an /etc/init.d script, its rc links); and
every change is read back: a step that says "off at boot now" has seen the
init system agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .commands import Script
from .errors import RemoteError

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*(?:#.*)?$")
_STATUS_CASE = re.compile(r"^\s*\(?\s*(?:[\w|-]+\|)?status(?:\|[\w|-]+)?\s*\)", re.MULTILINE)
_EXEC = re.compile(r"--exec\s+(\S+)")
PROPS_FOR_TEST = "Id,LoadState,ActiveState,SubState,UnitFileState,FragmentPath,SourcePath,MainPID"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
# The unit files whose [Install] Alias= names $1, in the unit directories given after it.
ALIAS_OF = 'u=$1; shift; for d in "$@"; do grep -lsE "^Alias=(.*[ =])?$u( |$)" "$d"/*.service; done 2>/dev/null; true'
RC_LINKS = Script('for l in /etc/rc[2345].d/S??"$1"; do [ -e "$l" ] && exit 0; done; exit 1')
# SysV "on at boot": the script executable (D3 makes it 644) and a start link, in one exec (each exec is a round trip).
SYSV_ENABLED = Script('[ -x "/etc/init.d/$1" ] || exit 1; for l in /etc/rc[2345].d/S??"$1"; do [ -e "$l" ] && exit 0; done; exit 1')


def script_has_status(text: str) -> bool:
    """Does an init script handle `status` (a `status)` case label)? Old scripts often do not."""
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
    found = ([values["DAEMON"]] if values.get("DAEMON") else []) + [expand(m.group(1)) for m in _EXEC.finditer(text)]
    names = []
    for path in found + [service]:
        base = path.rstrip("/").rsplit("/", 1)[-1]
        if base and "$" not in base and base not in names:
            names.append(base)
    return names


def parse_show(text: str) -> dict[str, str]:
    """`systemctl show -p A,B NAME` output -> {A: value, B: value}."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@dataclass(frozen=True)
class Unit:
    """What the init system says about one service name."""

    name: str            # as hosts.toml gives it
    unit: str            # the real unit (systemd) or the init script's name (sysvinit)
    exists: bool
    running: bool
    enabled: bool
    state: str = ""      # systemd's UnitFileState / ActiveState words, for messages
    masked: bool = False

    def label(self) -> str:
        return self.name if self.unit in (self.name, f"{self.name}.service") else f"{self.name} (unit {self.unit})"


class SysV:
    """/etc/init.d scripts and rc links; the seed's way of D3 (remove + chmod 644) and its reverse."""

    name = "sysvinit"

    def __init__(self, host):
        self.host = host

    def _script(self, service: str) -> str | None:
        path = f"/etc/init.d/{service}"
        return self.host.facts.get(("init-script", service), lambda: self.host.read_text(path) if self.host.exists(path) else None)

    def _action(self, service: str, action: str) -> Script:
        # A script disabled the seed's way is mode 644: run it through sh.
        return Script('if [ -x "$1" ]; then exec "$1" "$2"; else exec sh "$1" "$2"; fi', f"/etc/init.d/{service}", action)

    def _running(self, service: str, script: str) -> bool:
        if script_has_status(script):
            return self.host.check(self._action(service, "status"))
        names = daemons_of_script(script, service)
        return self.host.check(Script('for d in "$@"; do pidof -x "$d" >/dev/null && exit 0; done; exit 1', *names))

    def unit(self, service: str) -> Unit:
        script = self._script(service)
        if script is None:
            return Unit(service, service, False, False, False)
        enabled = self.host.check(Script(SYSV_ENABLED.text, service))
        return Unit(service, service, True, self._running(service, script), enabled)

    def run(self, unit: Unit, action: str):
        return self.host.change(self._action(unit.unit, action), what=f"/etc/init.d/{unit.unit} {action}")

    def set_boot(self, unit: Unit, enabled: bool, mask: bool = False):
        path = f"/etc/init.d/{unit.unit}"
        if enabled:
            self.host.change(["update-rc.d", unit.unit, "defaults"], what=f"update-rc.d {unit.unit} defaults")
            return self.host.change(["chmod", "755", path], what=f"chmod 755 {path}")
        self.host.change(["update-rc.d", "-f", unit.unit, "remove"], what=f"update-rc.d -f {unit.unit} remove")
        return self.host.change(["chmod", "644", path], what=f"chmod 644 {path}")

    def daemon_names(self, unit: Unit) -> list[str]:
        script = self._script(unit.unit)
        return daemons_of_script(script, unit.unit) if script else [unit.unit]


class Systemd:
    """Units, resolved from whatever name hosts.toml gives; state from `systemctl show`."""

    name = "systemd"
    PROPS = PROPS_FOR_TEST

    def __init__(self, host):
        self.host = host

    def _show(self, name: str) -> dict[str, str]:
        return parse_show(self.host.probe(["systemctl", "show", "-p", self.PROPS, "--", name]).stdout)

    def _alias_target(self, name: str) -> str | None:
        """The unit whose [Install] Alias= names `name` (an alias link that exists only while enabled)."""
        wanted = name if "." in name else f"{name}.service"
        result = self.host.probe(Script(ALIAS_OF, wanted, *UNIT_DIRS))
        for path in result.stdout.split():
            return path.rsplit("/", 1)[-1]
        return None

    def _resolve(self, name: str) -> dict[str, str]:
        props = self._show(name)
        if props.get("LoadState") == "not-found":
            target = self._alias_target(name)
            if target:
                props = self._show(target)
        return props

    def unit(self, service: str) -> Unit:
        props = self._resolve(service)
        unit_id = props.get("Id", service)
        load, file_state, active = props.get("LoadState", ""), props.get("UnitFileState", ""), props.get("ActiveState", "")
        exists = load not in ("not-found", "") or file_state == "masked"
        if file_state in ("generated", "") and props.get("SourcePath", "").startswith("/etc/init.d/"):
            enabled = self.host.check(Script(RC_LINKS.text, unit_id.removesuffix(".service")))
        else:
            enabled = file_state == "enabled"
        return Unit(service, unit_id, exists, active in ("active", "reloading"), enabled,
                    f"{file_state or 'no unit file'}, {active or 'unknown'}", file_state == "masked")

    def run(self, unit: Unit, action: str):
        return self.host.change(["systemctl", action, unit.unit], what=f"systemctl {action} {unit.unit}")

    def set_boot(self, unit: Unit, enabled: bool, mask: bool = False):
        if enabled:
            if unit.masked:
                self.host.change(["systemctl", "unmask", unit.unit], what=f"systemctl unmask {unit.unit}")
            return self.host.change(["systemctl", "enable", "--quiet", unit.unit], what=f"systemctl enable {unit.unit}")
        self.host.change(["systemctl", "disable", "--quiet", unit.unit], what=f"systemctl disable {unit.unit}")
        if mask:
            return self.host.change(["systemctl", "mask", "--quiet", unit.unit], what=f"systemctl mask {unit.unit}")
        return None

    def daemon_names(self, unit: Unit) -> list[str]:
        """The unit's main program's name, read from its running MainPID, else its ExecStart."""
        out = self.host.probe(["systemctl", "show", "-p", "ExecStart", "--value", unit.unit]).stdout
        match = re.search(r"path=(\S+)", out)
        return [match.group(1).rsplit("/", 1)[-1]] if match else [unit.unit.removesuffix(".service")]


def services_of(host):
    """The back end of this host (by what runs as PID 1), cached in its facts."""
    return host.facts.get("services", lambda: Systemd(host) if host.facts.init_system == "systemd" else SysV(host))


def unit(host, service: str, *, fresh: bool = False) -> Unit:
    """The init system's answer for `service` (cached until a change; `fresh` reads again)."""
    if fresh:
        host.facts.forget(("unit", service))
    return host.facts.get(("unit", service), lambda: services_of(host).unit(service))


def require(host, names, key: str) -> list[Unit]:
    """The units of `names`; one line naming the hosts.toml key when the host does not know one."""
    units = [unit(host, name) for name in names]
    unknown = [u.name for u in units if not u.exists]
    if unknown:
        init = services_of(host).name
        raise RemoteError(f"{host.alias}: no service {', '.join(unknown)} here ({init}); fix {key} in hosts.toml")
    return units


def _proven(host, service: str, what: str, ok) -> Unit:
    if host.dry:
        return unit(host, service)
    after = unit(host, service, fresh=True)
    if not ok(after):
        raise RemoteError(f"{host.alias}: {after.label()} is not {what} after the change ({after.state or 'init system says no'}); "
                          f"see its log (journalctl -u / /var/log), fix it, then run the task again")
    return after


def ensure_running(host, service: str, running: bool = True) -> bool:
    """Start (or with running=False stop) unless already so, and read the state back; True when acted."""
    u = unit(host, service)
    state = "running" if running else "stopped"
    if u.running == running:
        host.say(f"{u.label()}: {state}, unchanged")
        return False
    services_of(host).run(u, "start" if running else "stop")
    _proven(host, service, state, lambda a: a.running == running)
    if not host.dry:
        host.record("note", service=service, unit=u.unit, running_before=u.running, running_after=running, detail=f"{u.label()} {state}")
        host.say(f"{u.label()}: {'started' if running else 'stopped'}")
    return True


def ensure_enabled(host, service: str, enabled: bool = True, *, mask: bool = False) -> bool:
    """On (or off, optionally masked) at boot unless already so, read back from the init system."""
    u = unit(host, service)
    word = "on" if enabled else "off"
    if u.enabled == enabled and (enabled or not mask or u.masked):
        host.say(f"{u.label()}: {word} at boot, unchanged")
        return False
    services_of(host).set_boot(u, enabled, mask)
    _proven(host, service, f"{word} at boot", lambda a: a.enabled == enabled)
    if not host.dry:
        host.record("note", service=service, unit=u.unit, enabled_before=u.enabled, enabled_after=enabled, masked_before=u.masked,
                    detail=f"{u.label()} {word} at boot")
        host.say(f"{u.label()}: {word} at boot now{' (masked)' if mask and not enabled else ''}")
    return True


def reload(host, service: str):
    """Make a running service reread its files without a restart (SIGHUP-style), read back that it still runs.

    systemd: `systemctl reload` when the unit can (CanReload), else SIGHUP to its main process; sysvinit:
    the script's `reload` when it has one, else SIGHUP to its daemon (qmail-send rereads its control files
    on HUP; qmail-smtpd reads rcpthosts per connection anyway)."""
    backend, u = services_of(host), unit(host, service)
    if backend.name == "systemd":
        can = host.probe(["systemctl", "show", "-p", "CanReload", "--value", u.unit]).stdout.strip() == "yes"
        argv = ["systemctl", "reload", u.unit] if can else ["systemctl", "kill", "--kill-whom=main", "-s", "HUP", u.unit]
        result = host.change(argv, what=" ".join(argv))
    elif re.search(r"^\s*\(?\s*(?:[\w|-]+\|)?reload(?:\|[\w|-]+)?\s*\)", backend._script(u.unit) or "", re.MULTILINE):
        result = backend.run(u, "reload")
    else:
        names = backend.daemon_names(u)
        result = host.change(Script('for d in "$@"; do p=$(pidof -x "$d") && exec kill -HUP $p; done; exit 1', *names),
                             what=f"kill -HUP {' '.join(names)}")
    _proven(host, service, "running", lambda a: a.running)
    return result


def restart(host, service: str):
    """Restart and read back that it runs."""
    result = services_of(host).run(unit(host, service), "restart")
    _proven(host, service, "running", lambda a: a.running)
    return result
