"""The modern profile's boot: one host = systemd as PID 1 under systemd-nspawn.

Used two ways (standard library only, so it runs as a plain script):
- `python3 nspawn.py HOST ROOT NETNS RUN_DIR ONCE CGROUP...` is the host's
  supervisor (machine side, detached from `lab.up`): it boots the host and
  boots it again when systemd inside reboots (nspawn exits 133), as
  systemd-nspawn@.service does. SIGTERM: an orderly poweroff of the host.
- lab.api imports it for the argv, the cgroup clean-up and the checks.

Why each nspawn option (checked on this kind of machine, see
/work/shared/systemd-lab-notes.md): the machine has no systemd/D-Bus of its
own (--keep-unit --register=no), the host lives in the lab's network
namespace (--network-namespace-path) and ifupdown inside sets the address
(CAP_NET_ADMIN), trixie's systemd halts instead of exiting on the default
kill signal (SIGRTMIN+4 = poweroff), S1 reads the host's own resolv.conf
(--resolv-conf=off), nothing of the host's journal on the machine
(--link-journal=no), no terminal (--console=pipe). Each host has its own
cgroup in every hierarchy, else two systemds see each other's processes.

Writes RUN_DIR/HOST.supervisor.pid, HOST.init.pid (systemd's pid as seen
from the machine), HOST.boots (boot counter) and HOST.state (booting, up,
degraded, down). ONCE: a file of shell lines run inside after the first
boot that reaches `running`, then removed (old: BIND started by hand).
"""
import os
import signal
import subprocess
import sys
import time

EXEC_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb", "USER": "root", "LOGNAME": "root"}
REBOOT_EXIT = 133          # systemd-nspawn's exit status when the container rebooted
PROPAGATE = "/run/systemd/nspawn/propagate"


def machine(host):
    return f"sslab-{host}"


def argv(host, root, netns):
    """The systemd-nspawn command line of a lab host."""
    return ["systemd-nspawn", "--quiet", "-D", root, "--boot", f"--machine={machine(host)}",
            "--keep-unit", "--register=no", f"--network-namespace-path=/run/netns/{netns}",
            "--capability=CAP_NET_ADMIN", "--kill-signal=SIGRTMIN+4", "--resolv-conf=off",
            "--timezone=off", "--link-journal=no", "--console=pipe"]


def enter(pid, cmd, timeout=30, input=None):
    """sh -c CMD inside the namespaces (mount, UTS, IPC, net, PID) and root of process `pid`."""
    return subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                           "--", "/bin/sh", "-c", cmd], env=EXEC_ENV, input=input,
                          capture_output=True, text=True, timeout=timeout)


def find_init(nspawn_pid, wait=10.0):
    """The container's systemd: nspawn's child whose innermost PID is 1."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            kids = open(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read().split()
        except OSError:
            return None
        for k in kids:
            try:
                nspid = [ln for ln in open(f"/proc/{k}/status") if ln.startswith("NSpid:")]
            except OSError:
                continue
            if nspid and nspid[0].split()[-1] == "1" and len(nspid[0].split()) > 2:
                return int(k)
        time.sleep(0.02)
    return None


def system_state(init_pid):
    """`systemctl is-system-running` inside (initializing, starting, running, degraded, ...)."""
    try:
        return enter(init_pid, "systemctl is-system-running 2>/dev/null", timeout=10).stdout.strip() or "starting"
    except (subprocess.TimeoutExpired, OSError):
        return "starting"


def cgroup_procs(cgroup):
    """Every pid in a cgroup directory and below."""
    pids = []
    for d, _, files in os.walk(cgroup):
        if "cgroup.procs" in files:
            try:
                pids += [int(p) for p in open(os.path.join(d, "cgroup.procs")).read().split()]
            except OSError:
                pass
    return pids


def remove_cgroups(cgroups):
    """Kill what is left in the host's cgroups and remove them, deepest first. Returns what stays."""
    for cg in cgroups:
        for _ in range(50):
            pids = cgroup_procs(cg)
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for d, _, _ in sorted(os.walk(cg), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(d)
            except OSError:
                pass
    return [cg for cg in cgroups if os.path.exists(cg)]


def remove_run_dirs(host):
    """nspawn's per-machine directory under /run/systemd/nspawn (it refuses to remove it on a disk /run)."""
    p = os.path.join(PROPAGATE, machine(host))
    for d, _, files in sorted(os.walk(p), key=lambda w: -w[0].count("/")):
        for f in files:
            os.unlink(os.path.join(d, f))
        os.rmdir(d)
    for d in (PROPAGATE, "/run/systemd/nspawn/locks", "/run/systemd/nspawn"):
        try:
            os.rmdir(d)          # only when empty: another container's are kept
        except OSError:
            pass


class Supervisor:
    """Boots one host, again after each reboot, until told to stop or the host powers off."""

    def __init__(self, host, root, netns, run_dir, once, cgroups):
        self.host, self.root, self.netns, self.run_dir = host, root, netns, run_dir
        self.once, self.cgroups = once, cgroups
        self.stopping, self.proc, self.boots = False, None, 0

    def path(self, suffix):
        return os.path.join(self.run_dir, f"{self.host}.{suffix}")

    def write(self, suffix, value):
        with open(self.path(suffix) + ".tmp", "w") as f:
            f.write(f"{value}\n")
        os.replace(self.path(suffix) + ".tmp", self.path(suffix))

    def unlink(self, suffix):
        try:
            os.unlink(self.path(suffix))
        except FileNotFoundError:
            pass

    def on_term(self, signum, frame):
        self.stopping = True
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)      # nspawn: --kill-signal to the host's systemd

    def join_cgroups(self):
        for cg in self.cgroups:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write("0\n")

    def start(self):
        """One boot: fresh eth0 addresses (ifup refuses an address already there), then nspawn."""
        subprocess.run(["ip", "-n", self.netns, "addr", "flush", "dev", "eth0"],
                       capture_output=True, check=False)
        for cg in self.cgroups:
            os.makedirs(cg, exist_ok=True)
        self.write("state", "booting")
        env = dict(EXEC_ENV, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        self.proc = subprocess.Popen(argv(self.host, self.root, self.netns), env=env,
                                     stdin=subprocess.DEVNULL, preexec_fn=self.join_cgroups)
        return find_init(self.proc.pid)

    def watch_boot(self, init):
        """Wait for systemd inside to finish booting; run ONCE after the first boot."""
        while self.proc.poll() is None and not self.stopping:
            st = system_state(init)
            if st in ("running", "degraded"):
                if os.path.exists(self.once):
                    self.run_once(init)
                    st = system_state(init)
                self.write("state", "up" if st == "running" else st)
                print(f"supervisor {self.host}: boot {self.boots}: {st}", flush=True)
                if st == "degraded":
                    print(enter(init, "systemctl --failed --no-legend --plain").stdout, flush=True)
                return
            time.sleep(0.1)

    def run_once(self, init):
        for line in open(self.once).read().splitlines():
            if line.strip() and not line.startswith("#"):
                r = enter(init, line, timeout=60)
                print(f"supervisor {self.host}: once: {line}: {r.returncode} {r.stderr.strip()}", flush=True)
        os.unlink(self.once)

    def boot_once(self):
        """One boot to its end. Returns nspawn's exit status."""
        started = time.monotonic()
        init = self.start()
        if init:
            self.boots += 1
            self.write("init.pid", init)
            self.write("boots", self.boots)
            print(f"supervisor {self.host}: boot {self.boots}, init pid {init}", flush=True)
            if self.stopping:
                self.proc.send_signal(signal.SIGTERM)
            self.watch_boot(init)
        rc = self.proc.wait()
        self.unlink("init.pid")
        self.write("state", "down")
        print(f"supervisor {self.host}: nspawn exited {rc} after {time.monotonic() - started:.1f} s", flush=True)
        return rc

    def run(self):
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.write("supervisor.pid", os.getpid())
        failures = 0
        try:
            while not self.stopping:
                started = time.monotonic()
                rc = self.boot_once()
                if rc == REBOOT_EXIT or self.stopping:
                    continue
                if rc == 0:                                   # powered off inside: stays off
                    break
                failures = failures + 1 if time.monotonic() - started < 10 else 0
                if failures >= 3:
                    print(f"supervisor {self.host}: nspawn keeps failing, giving up", flush=True)
                    break
                time.sleep(1)
        finally:
            remove_cgroups(self.cgroups)
            remove_run_dirs(self.host)
            for s in ("state", "supervisor.pid"):
                self.unlink(s)


if __name__ == "__main__":
    Supervisor(*sys.argv[1:6], sys.argv[6:]).run()
