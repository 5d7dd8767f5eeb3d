"""Lab constants, paths and the lab's hosts.toml (read with tomllib).

Two profiles, chosen by LAB_PROFILE (environment, read once at import):
- seed (default): Debian 12 roots booted by the lab's own sysvinit-style init
  (lab/files/sbin/lab-init), the seed's own layout (lab/hosts.toml);
- modern: old and backup Debian 12, new Debian 13, each with systemd as PID 1
  under systemd-nspawn, Debian's stock configuration (lab/hosts-modern.toml).
Both share the network (bridge, namespaces, addresses) and the seed data.
"""
from __future__ import annotations

import ipaddress
import os
import tomllib
from functools import lru_cache
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
FILES_DIR = LAB_DIR / "files"
STATE_DIR = LAB_DIR / "state"                 # gitignored: operator key, known_hosts, journal
FILES_MODERN_DIR = LAB_DIR / "files-modern"  # the modern profile's own files (systemd units)

PROFILES = ("seed", "modern")
PROFILE = os.environ.get("LAB_PROFILE", "").strip() or "seed"
MODERN = PROFILE == "modern"
HOSTS_FILE = LAB_DIR / ("hosts-modern.toml" if MODERN else "hosts.toml")

VAR_DIR = Path(os.environ.get("LAB_VAR_DIR", "/var/lib/serverswap-lab"))
BASE_TAR = VAR_DIR / "base-bookworm.tar"     # the seed profile's base
HOSTS_DIRS = {"seed": VAR_DIR / "hosts", "modern": VAR_DIR / "hosts-modern"}
HOSTS_DIR = HOSTS_DIRS["modern" if MODERN else "seed"]   # extracted + seeded roots
KEYS_DIR = VAR_DIR / "keys"                   # per-host ssh keys, kept across resets
RUN_DIR = Path(os.environ.get("LAB_RUN_DIR", "/run/serverswap-lab"))

SUITE = "bookworm"
# modern profile: the Debian release of each host, and its cached base
MODERN_SUITES = {"old": "bookworm", "new": "trixie", "backup": "bookworm"}
# The lab network: the bridge on this machine carries the operator address.
BRIDGE = os.environ.get("LAB_BRIDGE", "sslab0")
BRIDGE_ADDR = ipaddress.ip_interface(os.environ.get("LAB_BRIDGE_ADDR", "198.18.0.1/24"))
NETWORK = BRIDGE_ADDR.network
HOST_NAMES = ("old", "new", "backup")

PACKAGES = [
    "openssh-server", "openssh-client", "rsync", "bind9", "bind9-dnsutils",
    "apache2", "openbsd-inetd", "ucspi-tcp", "ifupdown", "iproute2", "cron",
    "sudo", "python3", "procps", "passwd", "openssl", "netbase", "iputils-ping",
]


# the modern base: the seed's packages plus systemd as init (no libpam-systemd, as
# minbase: ssh sessions stay in ssh.service)
MODERN_PACKAGES = PACKAGES + ["systemd", "systemd-sysv", "dbus"]


def cgroup_roots() -> list[Path]:
    """The cgroup hierarchies a container needs its own directory in: the v1 name=systemd and
    the unified (v2) one on a hybrid machine like this one; /sys/fs/cgroup itself on pure v2."""
    top = Path("/sys/fs/cgroup")
    if (top / "cgroup.controllers").exists():
        return [top]
    return [d for d in (top / "systemd", top / "unified") if d.is_dir()]


def suite(host: str) -> str:
    """The Debian release a host runs under the current profile."""
    return MODERN_SUITES[host] if MODERN else SUITE


def base_tar(host: str) -> Path:
    """The cached base tarball a host's root is extracted from."""
    return VAR_DIR / f"base-systemd-{suite(host)}.tar" if MODERN else BASE_TAR


def cgroups(host: str) -> list[Path]:
    """The host's own cgroup in each hierarchy of this machine (modern profile)."""
    return [d / f"sslab-{host}" for d in cgroup_roots()]


def netns(host: str) -> str:
    return f"sslab-{host}"


def veth(host: str) -> str:
    return f"sslab-{host}"[:15]


def root(host: str) -> Path:
    return HOSTS_DIR / host


@lru_cache(maxsize=1)
def load() -> dict:
    with open(HOSTS_FILE, "rb") as f:
        return tomllib.load(f)


def host_cfg(host: str) -> dict:
    return load()["hosts"][host]


def before_ip(host: str) -> str:
    h = host_cfg(host)
    return h.get("before", {}).get("ip") or h["address"]
