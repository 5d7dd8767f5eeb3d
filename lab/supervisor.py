"""Supervisor of one lab host (machine side, detached from `lab.up`).

Starts the host (stage1 in new namespaces inside its netns) and starts it
again whenever its init exits for a reboot (exit 0). Stops when the init
halts (exit 3) or on SIGTERM (forwarded to the host's init as a halt).

Writes RUN_DIR/HOST.supervisor.pid, HOST.init.pid (init's pid as seen from
the machine) and HOST.boots (boot counter).

usage: python3 supervisor.py HOST ROOT NETNS RUN_DIR
"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main(host, root, netns, run_dir):
    def path(suffix):
        return os.path.join(run_dir, f"{host}.{suffix}")

    def write(suffix, value):
        with open(path(suffix) + ".tmp", "w") as f:
            f.write(f"{value}\n")
        os.replace(path(suffix) + ".tmp", path(suffix))

    stopping = False
    init_pid = None

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True
        if init_pid:
            try:
                os.kill(init_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    write("supervisor.pid", os.getpid())
    boots = 0
    fast_failures = 0
    while not stopping:
        started = time.monotonic()
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{netns}", "--",
             "unshare", "--pid", "--uts", "--mount", "--ipc", "--fork", "--kill-child",
             "--", sys.executable, os.path.join(HERE, "stage1.py"), root],
            stdin=subprocess.DEVNULL)
        # the init is the only child of unshare; find its pid
        init_pid = None
        for _ in range(200):
            try:
                kids = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
            except OSError:
                kids = []
            if kids:
                init_pid = int(kids[0])
                break
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        if init_pid:
            boots += 1
            write("init.pid", init_pid)
            write("boots", boots)
            print(f"supervisor {host}: boot {boots}, init pid {init_pid}", flush=True)
            if stopping:
                os.kill(init_pid, signal.SIGTERM)
        rc = proc.wait()
        init_pid = None
        try:
            os.unlink(path("init.pid"))
        except FileNotFoundError:
            pass
        print(f"supervisor {host}: init exited {rc}", flush=True)
        if rc == 3:
            break
        if rc != 0:
            fast_failures = fast_failures + 1 if time.monotonic() - started < 10 else 0
            if fast_failures >= 3:
                print(f"supervisor {host}: init keeps failing, giving up", flush=True)
                break
            time.sleep(1)
    for s in ("supervisor.pid",):
        try:
            os.unlink(path(s))
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    main(*sys.argv[1:5])
