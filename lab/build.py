"""Build the Debian bases once (debootstrap) and cache them as tarballs.

seed profile: one Debian 12 base. modern profile: a Debian 12 and a Debian 13
base with systemd as init, built side by side.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import config as C


class LabError(RuntimeError):
    """A lab failure with a one-line reason for the operator."""


REQUIRED_TOOLS = {
    "debootstrap": "apt-get install debootstrap",
    "unshare": "apt-get install util-linux",
    "nsenter": "apt-get install util-linux",
    "ip": "apt-get install iproute2",
    "tar": "apt-get install tar",
    "chroot": "apt-get install coreutils",
}


# the modern profile boots systemd under systemd-nspawn (Debian: systemd-container)
MODERN_TOOLS = {"systemd-nspawn": "apt-get install systemd-container",
                "systemd-machine-id-setup": "apt-get install systemd"}


def _have(tool: str) -> bool:
    return bool(shutil.which(tool)) or Path("/usr/sbin", tool).exists() or Path("/sbin", tool).exists()


def ensure_nspawn(log=print) -> None:
    """The modern profile needs systemd-nspawn: install systemd-container once, as root, when missing."""
    if _have("systemd-nspawn") or not _have("apt-get"):
        return
    log("lab: the modern profile needs systemd-nspawn: apt-get install systemd-container")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "systemd-container"]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
            return   # require() says what is missing


def require(tools=None) -> None:
    """Stop with one line when the lab cannot run here (the modern profile installs systemd-container)."""
    if C.PROFILE not in C.PROFILES:
        raise LabError(f"LAB_PROFILE={C.PROFILE!r} is not a lab profile (one of: {', '.join(C.PROFILES)})")
    if tools is None:
        tools = dict(REQUIRED_TOOLS, **(MODERN_TOOLS if C.MODERN else {}))
    if sys.platform != "linux":
        raise LabError("the lab needs Linux (network/PID/mount namespaces)")
    if os.geteuid() != 0:
        raise LabError("the lab needs root: run it as root (e.g. `sudo inv lab.up`)")
    if C.MODERN and os.geteuid() == 0:
        ensure_nspawn(lambda m: print(m, file=sys.stderr, flush=True))
    for tool, how in tools.items():
        if not _have(tool):
            raise LabError(f"the lab needs `{tool}`, which is missing: {how}")
    if not Path("/proc/self/ns/pid").exists():
        raise LabError("the lab needs kernel namespace support (/proc/self/ns missing)")
    if C.MODERN and not C.cgroup_roots():
        raise LabError("the modern profile needs cgroup v2 or the hybrid name=systemd + unified "
                       "hierarchies under /sys/fs/cgroup")


def _deb822_stanzas(text: str):
    for block in re.split(r"\n\s*\n", text):
        fields = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
        if fields:
            yield fields


def find_mirror(suite: str = C.SUITE) -> str:
    """The Debian mirror this machine uses for `suite`, read from its apt sources."""
    if os.environ.get("LAB_MIRROR"):
        return os.environ["LAB_MIRROR"]
    # (uri, suite) of every enabled `deb ... main` source; the archive that serves this
    # machine's release serves the next one too (the modern profile's trixie)
    sources = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for st in _deb822_stanzas(Path(path).read_text(errors="replace")):
            if "deb" not in st.get("types", "").split():
                continue
            if st.get("enabled", "yes").lower() == "no" or "main" not in st.get("components", "").split():
                continue
            sources += [(u, s) for u in st.get("uris", "").split() for s in st.get("suites", "").split()]
    lists = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in lists:
        if not os.path.exists(path):
            continue
        for line in Path(path).read_text(errors="replace").splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 4 and line[0] == "deb" and "main" in line[3:]:
                sources.append((line[1], line[2]))
    sources = [(u, s) for u, s in sources if "security" not in u and "-" not in s]
    candidates = [u for u, s in sources if s == suite] or [u for u, _ in sources]
    if not candidates:
        raise LabError(f"no Debian `{suite}` main source in /etc/apt/sources.list(.d): "
                       "add one or set LAB_MIRROR")
    return candidates[0]


def _run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def chroot(rootdir: Path, cmd: str, check=True, input=None, capture=False):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["chroot", str(rootdir), "/bin/sh", "-c", cmd], env=env,
                          check=check, input=input, text=True,
                          capture_output=capture)


def build_base(force: bool = False, log=print) -> float:
    """debootstrap the profile's base(s) once and cache them. Returns seconds taken (0 if cached).

    modern: the Debian 12 and Debian 13 bases are built side by side.
    """
    require()
    if not C.MODERN:
        return _build(C.SUITE, C.PACKAGES, C.BASE_TAR, _postprocess, "", force, log)
    todo = sorted({C.suite(h): C.base_tar(h) for h in C.HOST_NAMES}.items())
    todo = [(s, t) for s, t in todo if force or not t.exists()]
    if not todo:
        return 0.0
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(todo)) as ex:
        list(ex.map(lambda st: _build(st[0], C.MODERN_PACKAGES, st[1], _postprocess_modern,
                                      "systemd-", force, log), todo))
    dt = time.monotonic() - t0
    (C.VAR_DIR / "base-systemd.build-seconds").write_text(f"{dt:.1f}\n")
    return dt


def _build(suite: str, packages, tar: Path, post, tag: str, force: bool, log) -> float:
    """One debootstrap of `suite` -> `tar` (skipped when cached)."""
    if tar.exists() and not force:
        return 0.0
    mirror = find_mirror(suite)
    t0 = time.monotonic()
    C.VAR_DIR.mkdir(parents=True, exist_ok=True)
    work = C.VAR_DIR / f"base{'-' + tag + suite if tag else ''}.build"
    if work.exists():
        shutil.rmtree(work)
    log(f"lab: building the {tag}{suite} base with debootstrap (once; a few minutes)")
    # a private mount namespace: debootstrap's /proc and /sys mounts cannot leak
    logfile = C.VAR_DIR / f"debootstrap{'-' + tag + suite if tag else ''}.log"
    with open(logfile, "w") as out:
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "debootstrap",
                            "--variant=minbase", "--include=" + ",".join(packages),
                            suite, str(work), mirror], stdout=out, stderr=subprocess.STDOUT)
    if r.returncode:
        raise LabError(f"debootstrap {suite} failed (exit {r.returncode}): see {logfile}")
    post(work)
    tmp = tar.with_suffix(".tmp")
    _run(["tar", "-C", str(work), "--numeric-owner", "--xattrs", "--xattrs-include=*",
          "-cf", str(tmp), "."])
    os.replace(tmp, tar)
    shutil.rmtree(work)
    dt = time.monotonic() - t0
    tar.with_suffix(".build-seconds").write_text(f"{dt:.1f}\n")
    if not tag:
        (C.VAR_DIR / "base.build-seconds").write_text(f"{dt:.1f}\n")
    log(f"lab: {tag}{suite} base built in {dt:.0f} s -> {tar}")
    return dt


def _clean_base(r: Path) -> None:
    """No trace of the mirror, no apt lists, no host keys: each host gets its own when seeded."""
    # no trace of the mirror in the base; hosts have no apt sources
    for p in [r / "etc/apt/sources.list", *r.glob("etc/apt/sources.list.d/*")]:
        if p.exists():
            p.unlink()
    for d in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for p in (r / d).glob("*"):
            if p.is_file():
                p.unlink()
    for p in (r / "etc/ssh").glob("ssh_host_*"):
        p.unlink()


def _postprocess(r: Path) -> None:
    """Things common to every host of the seed profile, done once in the base."""
    _clean_base(r)
    # the packaged named service is not used (the site runs its own /etc/init.d/bind)
    chroot(r, "for s in named bind9 apache-htcacheclean rsync; do "
              "[ -e /etc/init.d/$s ] && update-rc.d -f $s remove >/dev/null 2>&1; done; true")


def _postprocess_modern(r: Path) -> None:
    """The modern base keeps Debian's packaged units as installed; each host gets its machine-id when seeded."""
    _clean_base(r)
    for p in (r / "etc/machine-id", r / "var/lib/dbus/machine-id"):
        if p.is_file() and not p.is_symlink():
            p.unlink()
