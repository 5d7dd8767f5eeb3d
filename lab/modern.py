"""The modern profile's layout of the seed data: Debian's stock files, changed the way a site would.

lab/seed.py holds the data (accounts, /home, mail, zones, ...) for both
profiles and calls these where the modern hosts differ from the seed's:
- sshd: Debian's stock sshd_config (`Include /etc/ssh/sshd_config.d/*.conf`
  first); on new a drop-in 50-local.conf with `PermitRootLogin no`, the
  operator's own admin path as a Match block in a drop-in (40-operator.conf),
  and the seed's `PermitRootLogin forced-commands-only` in a Match block at
  the end of the main file, for P1 to comment out;
- BIND: the bind9 package's /etc/bind, named.conf with only includes, the
  zones in named.conf.local, zone files beside it; unit named.service;
- boot: packaged units enabled or disabled with systemctl; the site's own
  qmail and tcpserver as native units in /etc/systemd/system;
- old's scratch file system: a tmpfs line in /etc/fstab.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from . import config as C
from .build import LabError, chroot

# units on at boot per host (the seed's SERVICES, by unit name)
UNITS_ON = {
    "old": ["ssh", "apache2", "inetd", "qmail", "tcpserver", "cron"],
    "new": ["ssh", "apache2", "named", "inetd", "qmail", "tcpserver", "cron"],
    "backup": ["ssh", "cron"],
}
UNITS_MANAGED = ["ssh", "apache2", "named", "inetd", "qmail", "tcpserver", "cron"]


def _write(r: Path, path: str, text: str, mode: int = 0o644) -> None:
    p = r / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    p.chmod(mode)


def copy_files(r: Path) -> None:
    """The site's own programs (lab/files/usr, shared with the seed), its units, a machine-id."""
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(C.FILES_DIR / "usr", r / "usr", dirs_exist_ok=True, symlinks=True, ignore=skip)
    shutil.copytree(C.FILES_MODERN_DIR, r, dirs_exist_ok=True, symlinks=True, ignore=skip)
    (r / "etc/machine-id").unlink(missing_ok=True)
    # nspawn refuses a root without one; each host has its own (as each machine has)
    p = subprocess.run(["systemd-machine-id-setup", f"--root={r}"], capture_output=True, text=True)
    if p.returncode:
        raise LabError(f"systemd-machine-id-setup --root={r} failed: {p.stderr.strip()}")


def sshd(r: Path, host: str, op, spare) -> None:
    """Stock sshd_config everywhere; on new the drop-ins and the Match block described above."""
    if host != "new":
        return
    _write(r, "/etc/ssh/sshd_config.d/50-local.conf",
           "# local settings of this host\nPermitRootLogin no\n")
    _write(r, "/etc/ssh/sshd_config.d/40-operator.conf", f"""\
# The operator's own admin path (lab): the operator's machine may always log in
# as root with its key, whatever the global PermitRootLogin says. A Match block
# in a drop-in ends with its file (OpenSSH 9.2 and 10.0, checked with sshd -T).
Match Address {op}
	PermitRootLogin prohibit-password
""")
    main = r / "etc/ssh/sshd_config"
    text = main.read_text()
    if "Include /etc/ssh/sshd_config.d/*.conf" not in text:
        raise LabError(f"{main}: Debian's stock Include line is missing")
    main.write_text(text.rstrip("\n") + f"""

# The backup server's forced-command jobs (seed habit; P1 comments this out)
Match Address {spare}
	PermitRootLogin forced-commands-only
""")


def bind(r: Path, cfg: dict, domain: str, rev_zone: str, fwd: str, rev: str) -> None:
    """Zone files in ttl.zone_dir (/etc/bind), declared in Debian's named.conf.local."""
    zdir, (ffile, rfile) = cfg["ttl"]["zone_dir"], cfg["ttl"]["zone_files"]
    _write(r, f"{zdir}/{ffile}", fwd)
    _write(r, f"{zdir}/{rfile}", rev)
    local = r / "etc/bind/named.conf.local"
    text = local.read_text() if local.exists() else ""
    for name, f in ((domain, ffile), (rev_zone, rfile)):
        text += f'\nzone "{name}" {{\n\ttype master;\n\tfile "{zdir}/{f}";\n}};\n'
    _write(r, "/etc/bind/named.conf.local", text)


def scratch(r: Path, path: str, options: str) -> None:
    """A separate file system under /home (rsync -x must not copy it), with a few files in it."""
    fstab = r / "etc/fstab"
    text = fstab.read_text() if fstab.exists() else ""
    text += "\n" if text and not text.endswith("\n") else ""
    _write(r, "/etc/fstab", text + f"tmpfs\t{path}\ttmpfs\t{options}\t0\t0\n")
    lines = [f"f {path}/README.scratch 0644 root root - a separate file system (tmpfs) under /home: "
             "rsync -x must not copy it"]
    lines += [f"f {path}/scratch-{i}.dat 0644 root root - scratch data {i}" for i in range(5)]
    _write(r, "/etc/tmpfiles.d/lab-scratch.conf", "# lab: files on the scratch tmpfs\n" + "\n".join(lines) + "\n")


def services(r: Path, host: str, once: Path) -> None:
    """On at boot: UNITS_ON[host] (systemctl enable, offline in the root); the rest disabled.

    old runs BIND but does not start it at boot (the runbook's D2 turns it on): named is
    disabled — which also removes its alias bind9.service — and started once after the boot."""
    on = UNITS_ON[host]
    cmds = [f"systemctl {'enable' if u in on else 'disable'} --quiet {u}.service" for u in UNITS_MANAGED]
    p = chroot(r, " && ".join(cmds), check=False, capture=True)   # (quiet: "/proc is not mounted")
    if p.returncode:
        raise LabError(f"seed {host}: systemctl enable/disable failed: {p.stderr.strip()[-300:]}")
    if host == "old":
        once.write_text("# run once at the first boot after the seed\nsystemctl start named\n")
