"""The lab's API: up, down, reset, reboot, status, exec, ssh_command, hosts_file, faults.

Every function needs root on Linux (see build.require). Hosts: old, new, backup.
LAB_PROFILE (seed, the default, or modern) picks the kind of hosts (lab/config.py);
the API and its contract are the same for both.
"""
from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from . import build, config as C, nspawn, seed as S
from .build import LabError

__all__ = ["up", "down", "reset", "reboot", "status", "exec", "ssh_command", "hosts_file",
           "address", "state", "link", "rekey", "qstat", "leftovers", "LabError", "HOSTS", "PROFILE"]

HOSTS = C.HOST_NAMES
PROFILE = C.PROFILE
EXEC_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb", "USER": "root", "LOGNAME": "root"}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def hosts_file() -> Path:
    """The lab's hosts.toml (same schema as the real one; paths relative to lab/)."""
    return C.HOSTS_FILE


def _check_host(host: str) -> None:
    if host not in HOSTS:
        raise LabError(f"no lab host {host!r} (hosts: {', '.join(HOSTS)})")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@contextmanager
def _lock():
    C.RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(C.RUN_DIR / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _read_int(p: Path) -> int | None:
    try:
        return int(p.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _supervisor_pid(host: str) -> int | None:
    pid = _read_int(C.RUN_DIR / f"{host}.supervisor.pid")
    return pid if _alive(pid) else None


def _init_pid(host: str) -> int | None:
    pid = _read_int(C.RUN_DIR / f"{host}.init.pid")
    return pid if _alive(pid) else None


def _boots(host: str) -> int:
    return _read_int(C.RUN_DIR / f"{host}.boots") or 0


def _host_state(host: str) -> str:
    """seed: what lab-init says; modern: what the supervisor read from systemd (is-system-running)."""
    pid = _init_pid(host)
    if not pid:
        return "down"
    where = C.RUN_DIR / f"{host}.state" if _modern_running() else Path(f"/proc/{pid}/root/run/lab-init.state")
    try:
        return where.read_text().strip()
    except OSError:
        return "starting"


def state(host: str) -> str:
    """The host's boot state: down, booting/starting, up (booted, every unit fine), degraded (modern:
    booted, some unit failed), stopping."""
    _check_host(host)
    return _host_state(host)


def _running_profile() -> str | None:
    """The profile of the hosts running now (None when none runs)."""
    if not any(_supervisor_pid(h) for h in HOSTS):
        return None
    try:
        return (C.RUN_DIR / "profile").read_text().strip()
    except OSError:
        return "seed"


def _modern_running() -> bool:
    """The hosts running now (else the profile in force) are the modern profile's."""
    return (_running_profile() or C.PROFILE) == "modern"


# ---- network ---------------------------------------------------------------

def _check_collision() -> None:
    """Refuse to start if the lab network touches any address or route of this machine."""
    net = C.NETWORK
    addrs = json.loads(_ip("-j", "addr").stdout or "[]")
    for link in addrs:
        if link.get("ifname") == C.BRIDGE:
            continue
        for a in link.get("addr_info", []):
            if a.get("family") != "inet":
                continue
            other = ipaddress.ip_interface(f"{a['local']}/{a.get('prefixlen', 32)}").network
            if other.overlaps(net):
                raise LabError(f"lab network {net} collides with {a['local']}/{a.get('prefixlen')} "
                               f"on {link.get('ifname')}: set LAB_BRIDGE_ADDR to a free range")
    routes = json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    for r in routes:
        dst = r.get("dst", "")
        if r.get("dev") == C.BRIDGE or dst in ("default", "") or r.get("type") in ("broadcast",):
            continue
        try:
            other = ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False)
        except ValueError:
            continue
        if other.prefixlen == 0:
            continue
        if other.overlaps(net):
            raise LabError(f"lab network {net} collides with route {dst} dev {r.get('dev')}: "
                           "set LAB_BRIDGE_ADDR to a free range")


def _netns_exists(host: str) -> bool:
    return Path("/run/netns", C.netns(host)).exists()


def _link_exists(name: str) -> bool:
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def _net_up(host: str) -> None:
    if not _link_exists(C.BRIDGE):
        _ip("link", "add", C.BRIDGE, "type", "bridge")
        _ip("addr", "add", str(C.BRIDGE_ADDR), "dev", C.BRIDGE)
        _ip("link", "set", C.BRIDGE, "up")
    ns, v = C.netns(host), C.veth(host)
    if not _netns_exists(host):
        _ip("netns", "add", ns)
    if not _link_exists(v):
        _ip("link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", v, "master", C.BRIDGE)
        _ip("link", "set", v, "up")


def _net_down_all() -> None:
    for h in HOSTS:
        if _link_exists(C.veth(h)):
            _ip("link", "del", C.veth(h), check=False)
        if _netns_exists(h):
            _ip("netns", "del", C.netns(h), check=False)
    if _link_exists(C.BRIDGE):
        _ip("link", "del", C.BRIDGE, check=False)
    # ip netns add made /run/netns a mount point; undo that if we did it and it is now empty
    marker = C.RUN_DIR / "made-run-netns-mount"
    if marker.exists():
        try:
            if not os.listdir("/run/netns"):
                subprocess.run(["umount", "/run/netns"], check=False, capture_output=True)
        except FileNotFoundError:
            pass
        marker.unlink()


def address(host: str) -> str:
    """The host's current IPv4 address on eth0 (it moves in C9/C10); before-address if down."""
    _check_host(host)
    if _netns_exists(host):
        r = _ip("-n", C.netns(host), "-j", "-4", "addr", "show", "dev", "eth0", check=False)
        try:
            for link in json.loads(r.stdout or "[]"):
                for a in link.get("addr_info", []):
                    if ipaddress.ip_address(a["local"]) in C.NETWORK:
                        return a["local"]
        except (ValueError, KeyError):
            pass
    return C.before_ip(host)


def _port_open(ip: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH") if port == 22 else True
    except OSError:
        return False


def _wait_up(host: str, timeout: float = 60.0, boots_after: int = 0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _boots(host) > boots_after and _host_state(host) in ("up", "degraded") \
                and _port_open(address(host), 22):
            return
        if not _supervisor_pid(host):
            raise LabError(f"lab host {host} stopped while booting: see {C.RUN_DIR}/{host}.log"
                           + ("" if C.MODERN else f" and {C.root(host)}/var/log/lab-init.log"))
        time.sleep(0.1)
    raise LabError(f"lab host {host} did not come up within {timeout:.0f} s "
                   f"(state {_host_state(host)}): see "
                   + (f"{C.RUN_DIR}/{host}.log" if C.MODERN else f"{C.root(host)}/var/log/lab-init.log"))


def _check_healthy(hosts) -> None:
    """After up/reset: a freshly seeded host with a failed unit is a lab bug; say which unit."""
    for h in hosts:
        if _host_state(h) == "degraded":
            failed = exec(h, "systemctl --failed --no-legend --plain | cut -d' ' -f1", check=False).stdout.split()
            raise LabError(f"lab host {h} booted degraded: failed units {', '.join(failed) or '?'} "
                           f"(see {C.RUN_DIR}/{h}.log)")


# ---- lifecycle -------------------------------------------------------------

def _start(host: str) -> None:
    if _supervisor_pid(host):
        return
    _net_up(host)
    (C.RUN_DIR / f"{host}.boots").unlink(missing_ok=True)
    (C.RUN_DIR / "profile").write_text(C.PROFILE + "\n")
    logf = open(C.RUN_DIR / f"{host}.log", "a")
    if C.MODERN:
        argv = [sys.executable, str(C.LAB_DIR / "nspawn.py"), host, str(C.root(host)), C.netns(host),
                str(C.RUN_DIR), str(S.once_file(host)), *map(str, C.cgroups(host))]
    else:
        argv = [sys.executable, str(C.LAB_DIR / "supervisor.py"), host, str(C.root(host)),
                C.netns(host), str(C.RUN_DIR)]
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                     start_new_session=True, close_fds=True, cwd="/")
    logf.close()
    end = time.monotonic() + 10
    while not _supervisor_pid(host) and time.monotonic() < end:
        time.sleep(0.02)


def _stop(host: str, timeout: float = 30.0) -> None:
    sup = _supervisor_pid(host)
    if sup:
        os.kill(sup, signal.SIGTERM)
        end = time.monotonic() + timeout
        while _alive(sup) and time.monotonic() < end:
            time.sleep(0.1)
        if _alive(sup):
            init = _init_pid(host)
            for pid in (init, sup):
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.3)
    # modern (or a modern lab stopped by a seed checkout): nothing of nspawn stays behind
    nspawn.remove_cgroups([str(p) for p in C.cgroups(host)])
    nspawn.remove_run_dirs(host)
    for suffix in ("supervisor.pid", "init.pid", "boots", "state"):
        (C.RUN_DIR / f"{host}.{suffix}").unlink(missing_ok=True)


def _conflict_default() -> bool:
    return os.environ.get("LAB_CONFLICT", "") not in ("", "0", "no", "false")


def _prepare(hosts, fresh: bool, conflict: bool) -> None:
    need = [h for h in hosts if fresh or not (C.root(h) / "etc/lab-seeded").exists()]
    if not need:
        return
    k = S.keys()
    S.write_known_hosts(k)

    def one(h):
        S.extract(h)
        S.seed(h, conflict=conflict, k=k)
    with ThreadPoolExecutor(len(need)) as ex:
        list(ex.map(one, need))


def up(conflict: bool | None = None, timeout: float = 90.0) -> dict:
    """Start the lab (build the base once, seed roots that are not seeded yet). Idempotent."""
    build.require()
    conflict = _conflict_default() if conflict is None else conflict
    with _lock():
        t0 = time.monotonic()
        running = _running_profile()
        if running and running != C.PROFILE:
            raise LabError(f"the lab is up with LAB_PROFILE={running}: `python3 -m lab.api down` "
                           f"first (or reset, which starts it again as {C.PROFILE})")
        if not _link_exists(C.BRIDGE):
            _check_collision()
        build.build_base(log=_log)
        _prepare(HOSTS, fresh=False, conflict=conflict)
        if not os.path.ismount("/run/netns"):
            C.RUN_DIR.mkdir(parents=True, exist_ok=True)
            (C.RUN_DIR / "made-run-netns-mount").touch()
        for h in HOSTS:
            _start(h)
        for h in HOSTS:
            _wait_up(h, timeout)
        _check_healthy(HOSTS)
        _log(f"lab: up ({C.PROFILE}) in {time.monotonic() - t0:.1f} s")
    return status()


def down(timeout: float = 30.0) -> None:
    """Stop every host, remove namespaces, veths and the bridge. Roots stay (use reset)."""
    build.require()
    with _lock():
        with ThreadPoolExecutor(len(HOSTS)) as ex:
            list(ex.map(lambda h: _stop(h, timeout), HOSTS))
        _net_down_all()
        left = leftovers()
        if left:
            raise LabError("lab: down left something behind: " + "; ".join(left))


def reset(conflict: bool | None = None, hosts=None, timeout: float = 90.0) -> dict:
    """Back to the seeded state: stop, re-extract + re-seed, start."""
    build.require()
    conflict = _conflict_default() if conflict is None else conflict
    hosts = list(hosts or HOSTS)
    for h in hosts:
        _check_host(h)
    with _lock():
        t0 = time.monotonic()
        if not _link_exists(C.BRIDGE):
            _check_collision()
        build.build_base(log=_log)
        running = _running_profile()
        stop = HOSTS if running and running != C.PROFILE else hosts   # another profile: all of it
        with ThreadPoolExecutor(len(stop)) as ex:
            list(ex.map(lambda h: _stop(h), stop))
        for h in stop:   # fresh interfaces too (eth0 addresses were changed by the tests)
            if _link_exists(C.veth(h)):
                _ip("link", "del", C.veth(h), check=False)
            if _netns_exists(h):
                _ip("netns", "del", C.netns(h), check=False)
        _prepare(stop, fresh=True, conflict=conflict)
        if not os.path.ismount("/run/netns"):
            (C.RUN_DIR / "made-run-netns-mount").touch()
        for h in HOSTS:
            _start(h)
        for h in HOSTS:
            _wait_up(h, timeout)
        _check_healthy(stop)
        _log(f"lab: reset ({C.PROFILE}) in {time.monotonic() - t0:.1f} s")
        S.empty_trash()
    return status()


def reboot(host: str, wait: bool = True, timeout: float = 90.0) -> None:
    """Reboot HOST the way `reboot` inside it does, then wait for its sshd (unless wait=False).

    seed: lab-init runs the K scripts and the supervisor boots it again; modern: SIGRTMIN+5 asks
    systemd for reboot.target (what `systemctl reboot` does), nspawn exits 133, the supervisor
    boots it again. Either way the boot counter of status() goes up by one."""
    build.require()
    _check_host(host)
    pid = _init_pid(host)
    if not pid:
        raise LabError(f"lab host {host} is not running (inv lab.up)")
    before = _boots(host)
    os.kill(pid, signal.SIGRTMIN + 5 if _modern_running() else signal.SIGUSR1)
    if wait:
        _wait_up(host, timeout, boots_after=before)


def status() -> dict:
    """{host: {state, running, init_pid, boots, address, hostname}} plus 'bridge'."""
    out = {}
    for h in HOSTS:
        pid = _init_pid(h)
        st = {"state": _host_state(h), "running": bool(_supervisor_pid(h)), "init_pid": pid,
              "boots": _boots(h), "address": address(h) if _netns_exists(h) else None,
              "root": str(C.root(h)), "seeded": (C.root(h) / "etc/lab-seeded").exists(),
              "profile": _running_profile() or C.PROFILE, "release": _release(h)}
        if pid:
            try:
                st["hostname"] = exec(h, "hostname", check=False).stdout.strip()
            except LabError:
                pass
        out[h] = st
    out["bridge"] = {"name": C.BRIDGE, "address": str(C.BRIDGE_ADDR), "up": _link_exists(C.BRIDGE)}
    return out


def _release(host: str) -> str | None:
    try:
        return (C.root(host) / "etc/debian_version").read_text().strip()
    except OSError:
        return None


def exec(host: str, cmd: str, check: bool = True, input: str | None = None,
         timeout: float | None = 120) -> subprocess.CompletedProcess:
    """Run a shell command as root inside HOST (its namespaces + chroot), without ssh."""
    _check_host(host)
    pid = _init_pid(host)
    if not pid:
        raise LabError(f"lab host {host} is not running (inv lab.up)")
    r = subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                        "--", "/bin/sh", "-c", cmd],
                       env=EXEC_ENV, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, cmd, r.stdout, r.stderr)
    return r


def ssh_command(host: str, user: str = "root") -> list[str]:
    """argv of an ssh to HOST's current address with the operator key and lab known_hosts."""
    _check_host(host)
    return ["ssh", "-i", str(C.STATE_DIR / "operator_key"),
            "-o", f"UserKnownHostsFile={C.STATE_DIR / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
            f"{user}@{address(host)}"]


def leftovers() -> list[str]:
    """What a running or badly stopped lab leaves on the machine (empty = clean)."""
    found = []
    netns = _ip("netns", "list", check=False).stdout.split()
    found += [f"netns {n}" for n in netns if n.startswith("sslab-")]
    for name in [C.BRIDGE] + [C.veth(h) for h in HOSTS]:
        if _link_exists(name):
            found.append(f"link {name}")
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    roots = tuple(str(d) for d in C.HOSTS_DIRS.values())      # both profiles' roots
    found += [f"mount {m.split()[4]}" for m in mounts
              if m.split()[4].startswith(roots) or "/run/netns/sslab-" in m.split()[4]]
    for h in HOSTS:
        if _supervisor_pid(h):
            found.append(f"supervisor of {h}")
        found += [f"cgroup {cg}" for cg in C.cgroups(h) if cg.exists()]
        if Path(nspawn.PROPAGATE, nspawn.machine(h)).exists():
            found.append(f"directory {nspawn.PROPAGATE}/{nspawn.machine(h)}")
    found += _lab_processes(roots)
    return found


def _lab_processes(roots) -> list[str]:
    """Processes whose root is a lab root, and systemd-nspawn processes of lab machines."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            r = os.readlink(p / "root")
            args = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if r.startswith(roots):
            found.append(f"process {p.name} in {r}")
        elif args and args[0].endswith(b"systemd-nspawn") and any(a.startswith(b"--machine=sslab-") for a in args):
            found.append(f"process {p.name} (systemd-nspawn)")
    return found


# ---- faults (for fault suites: the host does not notice at once) -------------

def link(host: str, up: bool) -> None:
    """Cut (up=False) or restore HOST's network link, as an unplugged cable further down the line.

    The host's port leaves the bridge (`ip link set dev PORT nomaster`): the host's eth0 keeps
    its carrier and address, nothing tells either end; its frames just go nowhere, so a TCP
    connection hangs (no reset) until keepalives or timeouts give up. The cut holds while the
    host restarts its networking (a bridge port *state* would be reset by the carrier flap of
    ifdown/ifup). Restoring puts the port back on the bridge. Idempotent."""
    _check_host(host)
    dev = C.veth(host)
    if not _link_exists(dev):
        raise LabError(f"lab host {host} has no link (inv lab.up)")
    args = ["link", "set", "dev", dev] + (["master", C.BRIDGE] if up else ["nomaster"])
    r = _ip(*args, check=False)
    if r.returncode:
        raise LabError(f"could not {'restore' if up else 'cut'} the link of {host}: {r.stderr.strip()}")
    if up:
        _ip("link", "set", "dev", dev, "up", check=False)


def link_up(host: str) -> bool:
    """False while link(host, False) holds the host's link cut (its port off the bridge)."""
    r = _ip("-j", "link", "show", "dev", C.veth(host), check=False)
    try:
        return json.loads(r.stdout)[0].get("master") == C.BRIDGE
    except (ValueError, LookupError):
        return False


def rekey(host: str) -> str:
    """Give HOST a new ed25519 SSH host key and restart its sshd; returns the new key's SHA256 fingerprint.

    lab/state/known_hosts and the kept keys are left alone, so the operator's known_hosts no
    longer matches (a reset brings the usual key back). The private key goes in on stdin only."""
    _check_host(host)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        key = Path(d) / "k"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host}-lab-rekeyed",
                        "-f", str(key)], check=True)
        fp = subprocess.run(["ssh-keygen", "-l", "-f", str(key) + ".pub"], check=True,
                            capture_output=True, text=True).stdout.split()[1]
        k = "/etc/ssh/ssh_host_ed25519_key"
        exec(host, f"umask 077 && cat > {k}.lab-new && mv {k}.lab-new {k}", input=key.read_text())
        exec(host, f"cat > {k}.pub", input=(Path(str(key) + ".pub")).read_text())
    restart = "systemctl restart ssh" if _modern_running() else "/etc/init.d/ssh restart"
    exec(host, f"{restart} >/dev/null 2>&1")
    _wait_sshd(host)
    return fp


def _wait_sshd(host: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not _port_open(address(host), 22):
        if time.monotonic() > end:
            raise LabError(f"sshd of {host} did not answer within {timeout:.0f} s")
        time.sleep(0.1)


def qstat(host: str) -> dict:
    """HOST's mail queue as its qmail-qstat reports it: {"queued": N, "unprocessed": M}."""
    out = exec(host, "qmail-qstat").stdout
    nums = [int(line.rsplit(":", 1)[1]) for line in out.splitlines() if ":" in line]
    return {"queued": nums[0], "unprocessed": nums[1]}


def main(argv: list[str] | None = None) -> int:
    """python -m lab.api up|down|reset [--conflict]|reboot HOST|status|exec HOST CMD|link HOST up|down|rekey HOST|hosts-file

LAB_PROFILE=modern selects the systemd profile (lab/README.md)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(main.__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "up":
            print(json.dumps(up(conflict=True if "--conflict" in rest else None), indent=2))
        elif cmd == "down":
            down()
        elif cmd == "reset":
            print(json.dumps(reset(conflict=True if "--conflict" in rest else None), indent=2))
        elif cmd == "reboot" and rest:
            reboot(rest[0])
        elif cmd == "status":
            print(json.dumps(status(), indent=2))
        elif cmd == "hosts-file":
            print(hosts_file())
        elif cmd == "link" and len(rest) == 2 and rest[1] in ("up", "down"):
            link(rest[0], rest[1] == "up")
        elif cmd == "rekey" and rest:
            print(rekey(rest[0]))
        elif cmd == "exec" and len(rest) >= 2:
            r = exec(rest[0], " ".join(rest[1:]), check=False)
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            return r.returncode
        else:
            print(main.__doc__, file=sys.stderr)
            return 2
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
