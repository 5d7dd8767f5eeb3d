"""Lab constants, paths and the lab's hosts.toml (read with tomllib)."""
from __future__ import annotations

import ipaddress
import os
import tomllib
from functools import lru_cache
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
FILES_DIR = LAB_DIR / "files"
STATE_DIR = LAB_DIR / "state"                 # gitignored: operator key, known_hosts, journal
HOSTS_FILE = LAB_DIR / "hosts.toml"

VAR_DIR = Path(os.environ.get("LAB_VAR_DIR", "/var/lib/serverswap-lab"))
BASE_TAR = VAR_DIR / "base-bookworm.tar"
HOSTS_DIR = VAR_DIR / "hosts"                 # extracted + seeded roots
KEYS_DIR = VAR_DIR / "keys"                   # per-host ssh keys, kept across resets
RUN_DIR = Path(os.environ.get("LAB_RUN_DIR", "/run/serverswap-lab"))

SUITE = "bookworm"
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
