"""Build the Debian 12 base once (debootstrap) and cache it as a tarball."""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
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


def require(tools=REQUIRED_TOOLS) -> None:
    """Stop with one line when the lab cannot run here."""
    if sys.platform != "linux":
        raise LabError("the lab needs Linux (network/PID/mount namespaces)")
    if os.geteuid() != 0:
        raise LabError("the lab needs root: run it as root (e.g. `sudo inv lab.up`)")
    for tool, how in tools.items():
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists() \
                and not Path("/sbin", tool).exists():
            raise LabError(f"the lab needs `{tool}`, which is missing: {how}")
    if not Path("/proc/self/ns/pid").exists():
        raise LabError("the lab needs kernel namespace support (/proc/self/ns missing)")


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
    candidates = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for st in _deb822_stanzas(Path(path).read_text(errors="replace")):
            if "deb" not in st.get("types", "").split():
                continue
            if st.get("enabled", "yes").lower() == "no":
                continue
            if suite in st.get("suites", "").split() and "main" in st.get("components", "").split():
                candidates.extend(st.get("uris", "").split())
    lists = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in lists:
        if not os.path.exists(path):
            continue
        for line in Path(path).read_text(errors="replace").splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 4 and line[0] == "deb" and line[2] == suite and "main" in line[3:]:
                candidates.append(line[1])
    candidates = [u for u in candidates if "security" not in u]
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
    """debootstrap the base and cache it in C.BASE_TAR. Returns seconds taken (0 if cached)."""
    require()
    if C.BASE_TAR.exists() and not force:
        return 0.0
    mirror = find_mirror()
    t0 = time.monotonic()
    C.VAR_DIR.mkdir(parents=True, exist_ok=True)
    work = C.VAR_DIR / "base.build"
    if work.exists():
        shutil.rmtree(work)
    log(f"lab: building the {C.SUITE} base with debootstrap (once; a few minutes)")
    # a private mount namespace: debootstrap's /proc and /sys mounts cannot leak
    _run(["unshare", "--mount", "--propagation", "private", "debootstrap",
          "--variant=minbase", "--include=" + ",".join(C.PACKAGES),
          C.SUITE, str(work), mirror],
         stdout=open(C.VAR_DIR / "debootstrap.log", "w"), stderr=subprocess.STDOUT)
    _postprocess(work)
    tmp = C.BASE_TAR.with_suffix(".tmp")
    _run(["tar", "-C", str(work), "--numeric-owner", "--xattrs", "--xattrs-include=*",
          "-cf", str(tmp), "."])
    os.replace(tmp, C.BASE_TAR)
    shutil.rmtree(work)
    dt = time.monotonic() - t0
    (C.VAR_DIR / "base.build-seconds").write_text(f"{dt:.1f}\n")
    log(f"lab: base built in {dt:.0f} s -> {C.BASE_TAR}")
    return dt


def _postprocess(r: Path) -> None:
    """Things common to every host, done once in the base."""
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
    # the packaged named service is not used (the site runs its own /etc/init.d/bind)
    chroot(r, "for s in named bind9 apache-htcacheclean rsync; do "
              "[ -e /etc/init.d/$s ] && update-rc.d -f $s remove >/dev/null 2>&1; done; true")
