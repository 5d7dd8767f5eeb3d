"""Stage 1 of a lab host boot (machine side, run by the supervisor).

Runs as pid 1 of a fresh PID namespace, in fresh UTS, IPC and mount
namespaces, inside the host's network namespace. Mounts /proc, /sys (of the
netns), a minimal /dev with its own devpts, a tmpfs /run and the host's extra
file systems (ROOT/etc/lab-fstab), then chroots into ROOT and execs the
host's own init, /sbin/lab-init (it stays pid 1).

usage: python3 stage1.py ROOT
"""
import os
import subprocess
import sys


def mount(*args):
    subprocess.run(["mount", *args], check=True)


def main(root: str) -> None:
    mount("--make-rprivate", "/")
    p = lambda rel: os.path.join(root, rel.lstrip("/"))  # noqa: E731
    for d in ("proc", "sys", "dev", "run"):
        os.makedirs(p(d), exist_ok=True)
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", p("proc"))
    mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", p("sys"))
    mount("-t", "tmpfs", "-o", "mode=755,size=4m,nosuid", "labdev", p("dev"))
    for dev in ("null", "zero", "full", "random", "urandom", "tty"):
        open(p("dev/" + dev), "w").close()
        mount("--bind", "/dev/" + dev, p("dev/" + dev))
    open(p("dev/console"), "w").close()
    mount("--bind", "/dev/null", p("dev/console"))
    os.makedirs(p("dev/pts"))
    os.makedirs(p("dev/shm"))
    mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", p("dev/pts"))
    mount("-t", "tmpfs", "-o", "mode=1777,size=64m,nosuid,nodev", "shm", p("dev/shm"))
    os.symlink("pts/ptmx", p("dev/ptmx"))
    os.symlink("/proc/self/fd", p("dev/fd"))
    for i, n in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", p("dev/" + n))
    mount("-t", "tmpfs", "-o", "mode=755,size=64m,nosuid,nodev", "run", p("run"))
    os.makedirs(p("run/lock"), mode=0o1777)
    # extra file systems of this host: "tmpfs PATH OPTIONS" per line
    fstab = p("etc/lab-fstab")
    if os.path.exists(fstab):
        for line in open(fstab).read().splitlines():
            f = line.split()
            if len(f) >= 2 and f[0] == "tmpfs" and not line.startswith("#"):
                target = p(f[1])
                os.makedirs(target, exist_ok=True)
                mount("-t", "tmpfs", "-o", f[2] if len(f) > 2 else "size=16m", "labscratch", target)
                with open(os.path.join(target, "README.scratch"), "w") as out:
                    out.write("a separate file system (tmpfs) under /home: rsync -x must not copy it\n")
                for i in range(5):
                    with open(os.path.join(target, f"scratch-{i}.dat"), "w") as out:
                        out.write(f"scratch data {i}\n" * 50)
    os.chroot(root)
    os.chdir("/")
    os.execv("/sbin/lab-init", ["/sbin/lab-init"])


if __name__ == "__main__":
    main(sys.argv[1])
