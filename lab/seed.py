"""Seed a lab host's root like the seed's servers (values from the profile's hosts file).

One source of seed data (accounts, /home, mail, zones, crontabs, identity files)
for both profiles; where the two lay it out differently (sshd, BIND, boot
services, the scratch file system) the modern profile's layout is in
lab/modern.py.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path

from . import config as C, modern
from .build import LabError, chroot

DOMAIN = "scitec.kobe-u.ac.jp"
SERIAL = "2009102001"

# (name, uid, on_new, full name). UIDs straddle [accounts] uid_min/uid_max.
OLD_USERS = [
    ("oldsys", 999, False, "old system account"),
    ("itpadmin", 1000, True, "ITPASS admin"),
    ("itpass", 1001, True, "ITPASS web and list"),
    ("yasuda", 1002, False, "Yasuda Taro"),
    ("morikawa", 1003, False, "Morikawa Hanako"),
    ("sugiyama", 1004, False, "Sugiyama Jiro"),
    ("kawahara", 1005, False, "Kawahara Saburo"),
    ("odaka", 1006, False, "Odaka Shiro"),
    ("nishizawa", 1007, True, "Nishizawa Goro"),
    ("tanaka", 29999, False, "Tanaka Edge"),
    ("visitor", 30000, False, "guest (outside the UID range)"),
]
NEW_ONLY_USERS = [("chikuwa1", 1500, "build account 1"), ("chikuwa2", 1501, "build account 2")]
CONFLICT_USER = ("morikawa", 2003, "Morikawa Ichiro (another person on new)")
HOME_USERS = ["yasuda", "morikawa", "sugiyama", "kawahara", "odaka", "nishizawa",
              "itpass", "itpadmin", "tanaka"]
FILES_PER_USER = 350   # x 9 users + specials: a few thousand files


# ---- small helpers -------------------------------------------------------

def _ids(root: Path, user: str, group: str | None = None) -> tuple[int, int]:
    uid = gid = None
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == user:
            uid, gid = int(f[2]), int(f[3])
    if group is not None:
        for line in (root / "etc/group").read_text().splitlines():
            f = line.split(":")
            if f[0] == group:
                gid = int(f[2])
    if uid is None or gid is None:
        raise LabError(f"seed: no user {user} / group {group} in {root}")
    return uid, gid


def write(root: Path, path: str, text: str | bytes, mode: int = 0o644,
          owner: str | None = None, group: str | None = None) -> Path:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.exists():
        p.unlink()
    if isinstance(text, str):
        text = text.encode()
    p.write_bytes(text)
    os.chmod(p, mode)
    if owner:
        os.chown(p, *_ids(root, owner, group))
    return p


def mkdir(root: Path, path: str, mode: int = 0o755, owner: str | None = None,
          group: str | None = None) -> Path:
    p = root / path.lstrip("/")
    p.mkdir(parents=True, exist_ok=True)
    os.chmod(p, mode)
    if owner:
        os.chown(p, *_ids(root, owner, group))
    return p


def _keygen(path: Path, comment: str) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True)


def keys() -> dict:
    """Operator key (lab/state) and per-host keys (VAR_DIR/keys), made once, kept across resets."""
    if not shutil.which("ssh-keygen"):
        raise LabError("the lab needs `ssh-keygen`, which is missing: apt-get install openssh-client")
    C.STATE_DIR.mkdir(parents=True, exist_ok=True)
    _keygen(C.STATE_DIR / "operator_key", "serverswap-lab-operator")
    out = {"operator": (C.STATE_DIR / "operator_key.pub").read_text().strip()}
    for h in C.HOST_NAMES:
        _keygen(C.KEYS_DIR / h / "ssh_host_ed25519_key", f"root@{h}-lab")
        out[f"{h}.host"] = (C.KEYS_DIR / h / "ssh_host_ed25519_key.pub").read_text().strip()
        if h in ("old", "new"):
            _keygen(C.KEYS_DIR / h / "root_id_ed25519", f"root@{C.host_cfg(h)['before']['hostname']}")
            out[f"{h}.root"] = (C.KEYS_DIR / h / "root_id_ed25519.pub").read_text().strip()
    return out


def _host_names(host: str) -> list[str]:
    """Names under which `host` is known before the swap (fqdn, short, aliases)."""
    h = C.host_cfg(host)
    b = h.get("before", {})
    names = []
    if b.get("fqdn"):
        names.append(b["fqdn"])
    if b.get("hostname"):
        names.append(b["hostname"])
        if not b.get("fqdn"):
            names.insert(0, f"{b['hostname']}.{DOMAIN}")
    for a in h.get("aliases", []):
        names += [f"{a}.{DOMAIN}", a]
    return names


def fqdn(host: str) -> str:
    return _host_names(host)[0]


def write_known_hosts(k: dict) -> Path:
    lines = []
    for h in C.HOST_NAMES:
        hostkey = " ".join(k[f"{h}.host"].split()[:2])
        lines.append(",".join([C.before_ip(h)] + _host_names(h)) + " " + hostkey)
    p = C.STATE_DIR / "known_hosts"
    p.write_text("\n".join(lines) + "\n")
    return p


# ---- the seed -----------------------------------------------------------

def once_file(host: str) -> Path:
    """Shell lines run inside the host once, after its first boot (old: BIND started by hand)."""
    return C.HOSTS_DIR / f"{host}.once" if C.MODERN else C.root(host) / "etc/lab-init.once"


def extract(host: str) -> Path:
    r = C.root(host)
    if r.exists():
        # out of the way at once; removed in the background (empty_trash)
        trash = C.VAR_DIR / "trash"
        trash.mkdir(parents=True, exist_ok=True)
        os.rename(r, trash / f"{host}.{os.getpid()}.{time.monotonic_ns()}")
    r.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(r), "--numeric-owner", "--xattrs", "--xattrs-include=*",
                    "-xf", str(C.base_tar(host))], check=True)
    once_file(host).unlink(missing_ok=True)
    return r


def empty_trash(wait: bool = False) -> None:
    """Remove old roots moved aside by extract(), detached unless wait."""
    trash = C.VAR_DIR / "trash"
    if not trash.exists() or not any(trash.iterdir()):
        return
    cmd = ["rm", "-rf", "--one-file-system", *map(str, trash.iterdir())]
    if wait:
        subprocess.run(cmd, check=False)
    else:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")


def seed(host: str, conflict: bool = False, k: dict | None = None) -> Path:
    k = k or keys()
    r = C.root(host)
    cfg = C.load()
    if C.MODERN:
        modern.copy_files(r)
    else:
        shutil.copytree(C.FILES_DIR, r, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    _identity(r, host, cfg)
    _ssh(r, host, cfg, k)
    if host in ("old", "new"):
        _accounts(r, host, conflict)
        _site(r, host, cfg)
        _mail(r, host, cfg)
        _dns(r, cfg)
        _crontabs(r, host)
        if host == "old":
            _home_old(r)
        else:
            _home_new(r, cfg)
    else:
        _backup(r, cfg)
    _services(r, host)
    (r / "etc/lab-seeded").write_text(f"host={host} conflict={int(conflict)}\n")
    return r


def _identity(r: Path, host: str, cfg: dict) -> None:
    h = cfg["hosts"][host]
    b = h.get("before", {})
    write(r, "/etc/hostname", b["hostname"] + "\n")
    write(r, "/etc/mailname", fqdn(host) + "\n")
    hosts = ["127.0.0.1\tlocalhost", ""]
    for other in C.HOST_NAMES:
        names = _host_names(other)
        m = cfg["hosts"][other].get("machine")
        if m:
            names.append(m)
        hosts.append(f"{C.before_ip(other)}\t" + " ".join(names))
    hosts += ["", "# The following lines are desirable for IPv6 capable hosts",
              "::1     localhost ip6-localhost ip6-loopback",
              "ff02::1 ip6-allnodes", "ff02::2 ip6-allrouters"]
    write(r, "/etc/hosts", "\n".join(hosts) + "\n")
    net = C.NETWORK
    write(r, "/etc/network/interfaces", f"""\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
auto eth0
iface eth0 inet static
	address {C.before_ip(host)}
	netmask {net.netmask}
	broadcast {net.broadcast_address}
""")
    res = cfg["resolver"]
    write(r, res["path"], "".join(f"search {s}\n" for s in res["search"][:1])
          + "".join(f"nameserver {n}\n" for n in res["nameservers"]))
    if not C.MODERN:
        write(r, "/etc/lab-fstab", "# lab: extra file systems mounted at boot (tmpfs PATH OPTIONS)\n")


def _ssh(r: Path, host: str, cfg: dict, k: dict) -> None:
    for suffix in ("", ".pub"):
        src = C.KEYS_DIR / host / f"ssh_host_ed25519_key{suffix}"
        shutil.copy(src, r / f"etc/ssh/ssh_host_ed25519_key{suffix}")
        os.chmod(r / f"etc/ssh/ssh_host_ed25519_key{suffix}", 0o600 if not suffix else 0o644)
    op = C.BRIDGE_ADDR.ip
    spare = C.NETWORK.broadcast_address - 5   # an address nobody uses (198.18.0.250)
    if C.MODERN:
        modern.sshd(r, host, op, spare)
    else:
        _sshd_seed(r, host, op, spare)
    _root_keys(r, host, k)


def _sshd_seed(r: Path, host: str, op, spare) -> None:
    """The seed's sshd_config: one file, Match blocks at its end (README: the operator's admin path)."""
    head = "PermitRootLogin no" if host == "new" else "PermitRootLogin prohibit-password"
    tail = ""
    if host == "new":
        tail = f"""
# The operator's own admin path (lab): the operator's machine may always log in
# with its key, whatever the global PermitRootLogin says.
Match Address {op}
	PermitRootLogin prohibit-password

# The backup server's forced-command jobs (seed habit; P1 comments this out)
Match Address {spare}
	PermitRootLogin forced-commands-only
"""
    write(r, "/etc/ssh/sshd_config", f"""\
# sshd_config of {fqdn(host)} (lab seed)
Port 22
{head}
HostKey /etc/ssh/ssh_host_ed25519_key
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
{tail}""")


def _root_keys(r: Path, host: str, k: dict) -> None:
    """root's authorized_keys, key pair and known_hosts (same in both profiles)."""
    ak = [k["operator"]]
    if host == "old":
        ak.append(k["new.root"])
    if host == "new":
        ak.append(k["old.root"])
    mkdir(r, "/root/.ssh", 0o700)
    if host == "old":
        # (phase2 C6) old's authorized_keys is renamed to authorized_keys.bk, refusing
        # root login with its keys; the operator's own admin key lives in
        # authorized_keys2 (sshd's default second AuthorizedKeysFile) and survives it.
        ak.remove(k["operator"])
        write(r, "/root/.ssh/authorized_keys2", k["operator"] + "\n", 0o600)
    write(r, "/root/.ssh/authorized_keys", "\n".join(ak) + "\n", 0o600)
    if host in ("old", "new"):
        shutil.copy(C.KEYS_DIR / host / "root_id_ed25519", r / "root/.ssh/id_ed25519")
        shutil.copy(C.KEYS_DIR / host / "root_id_ed25519.pub", r / "root/.ssh/id_ed25519.pub")
        os.chmod(r / "root/.ssh/id_ed25519", 0o600)
        peer = "new" if host == "old" else "old"
        hk = " ".join(k[f"{peer}.host"].split()[:2])
        kh = [",".join([C.before_ip(peer)] + _host_names(peer)) + " " + hk,
              ",".join([C.before_ip("backup")] + _host_names("backup")) + " "
              + " ".join(k["backup.host"].split()[:2])]
        write(r, "/root/.ssh/known_hosts", "\n".join(kh) + "\n", 0o644)


def _chpasswd(r: Path, pairs: list[tuple[str, str]]) -> None:
    chroot(r, "chpasswd", input="".join(f"{u}:{p}\n" for u, p in pairs))


def _accounts(r: Path, host: str, conflict: bool) -> None:
    cmds = []
    if host == "old":
        users = [(n, u, c) for n, u, _, c in OLD_USERS]
    else:
        users = [(n, u, c) for n, u, on_new, c in OLD_USERS if on_new]
        users += NEW_ONLY_USERS
        if conflict:
            users.append(CONFLICT_USER)
    taken = {line.split(":")[2] for line in (r / "etc/group").read_text().splitlines() if line.count(":") >= 2}
    for name, uid, comment in users:
        if uid < 1000:
            # a systemd root has gid 999 already (systemd-journal): the group then gets another gid
            gid = f"-g {uid} " if str(uid) not in taken else ""
            cmds.append(f"groupadd -r {gid}{name} && useradd -r -u {uid} -g {name} "
                        f"-d /var/lib/{name} -s /usr/sbin/nologin -c '{comment}' {name}")
        else:
            cmds.append(f"groupadd -g {uid} {name} && useradd -u {uid} -g {uid} -m -d /home/{name} "
                        f"-s /bin/bash -c '{comment}' {name}")
    cmds.append("useradd -r -g mail -d /nonexistent -s /usr/sbin/nologin -c 'POP server' pop")
    chroot(r, " && ".join(cmds))
    _chpasswd(r, [(n, f"{n}-{host}-pw") for n, _, _ in users])
    if host == "new":
        sudoers = (r / "etc/sudoers").read_text()
        sudoers += ("\n# build accounts for the swap (A3 removes them)\n"
                    "chikuwa1\tALL=(ALL:ALL) ALL\n"
                    "chikuwa2\tALL=(ALL:ALL) NOPASSWD: ALL\n")
        write(r, "/etc/sudoers", sudoers, 0o440)
        chroot(r, "visudo -c -q")


def _site(r: Path, host: str, cfg: dict) -> None:
    f = fqdn(host)
    write(r, "/var/www/html/index.html", f"""<!DOCTYPE html>
<html><head><title>ITPASS</title></head>
<body><h1>itpass web on {host}</h1>
<p>{f} (lab)</p></body></html>
""")
    write(r, "/etc/gate/gate.conf", f"""\
# gate: account registration for the ITPASS wiki (hiki)
server_name = {f}
base_url = http://{f}/gate/
admin_mail = itpadmin@{f}
data_dir = /home/gate
""")
    write(r, "/etc/exim4/update-exim4.conf.conf", f"""\
# /etc/exim4/update-exim4.conf.conf (exim is not the MTA here; qmail is)
dc_eximconfig_configtype='local'
dc_other_hostnames='{f}'
dc_local_interfaces='127.0.0.1 ; ::1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='false'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
""")


def _mail(r: Path, host: str, cfg: dict) -> None:
    f = fqdn(host)
    q = cfg["qmail"]
    ctl = q["control_dir"]
    site = [f"{d}.{DOMAIN}" for d in ("itpass", "epa", "aoe", "cps")]
    if host == "old":
        lst = ["localhost", f"old.{DOMAIN}"] + site
    else:
        want = list(q["new"])
        # new is slightly off, so N1 has something to fix: the last domain is missing
        lst = want[:-1]
    mkdir(r, ctl)
    write(r, f"{ctl}/me", f + "\n")
    for name in q["files"]:
        write(r, f"{ctl}/{name}", "\n".join(lst) + "\n")
    for d in ("tmp", "new"):
        mkdir(r, f"/var/qmail/queue/{d}", 0o1777)
    mkdir(r, "/var/qmail/queue/failed", 0o700)
    mkdir(r, "/var/qmail/queue/defer", 0o700)
    # POP secrets (qpopper's pop.auth; text `user secret` in the lab)
    pa = cfg["pop_auth"]
    if host == "old":
        secrets = [(u, f"apop-{u}") for u in ("yasuda", "morikawa", "sugiyama", "itpadmin", "tanaka")]
    else:
        secrets = [("itpadmin", "apop-itpadmin-new")]
    write(r, pa["path"], "".join(f"{u} {s}\n" for u, s in secrets), 0o600, pa["owner"], pa["group"])
    os.chown(r / Path(pa["path"]).parent.relative_to("/"), *_ids(r, pa["owner"], pa["group"]))
    # inetd: pop3
    inetd = (r / "etc/inetd.conf").read_text()
    inetd += "\n# POP3 (qpopper stand-in)\npop3\tstream\ttcp\tnowait\troot\t/usr/local/sbin/lab-pop3d\tlab-pop3d\n"
    write(r, "/etc/inetd.conf", inetd)
    _mailing_list(r, cfg)


def _mailing_list(r: Path, cfg: dict) -> None:
    """The mailing list (ezmlm-like) in ~itpass/ml."""
    listaddr = cfg["bouncer"]["list"]
    listlocal = listaddr.split("@")[0]
    owner = listlocal.split("-")[0]           # itpass-ml -> user itpass, ext ml
    ext = listlocal[len(owner) + 1:]
    mldir = f"/home/{owner}/ml"
    mkdir(r, mldir, 0o755, owner, owner)
    mkdir(r, f"{mldir}/ml-ctrl", 0o755, owner, owner)
    member = cfg["checks"]["list_member"] or f"yasuda@{DOMAIN}"
    write(r, f"{mldir}/subscribers", f"{member}\nmorikawa@itpass.{DOMAIN}\n", 0o644, owner, owner)
    # wrong on purpose: old host name and no ezmlm-return line (N2 fixes it)
    lines = cfg["bouncer"]["lines"]
    wrong = [lines[0].replace(f"@itpass.{DOMAIN}", f"@ika-itpass.{DOMAIN}")] + lines[1:2]
    write(r, cfg["bouncer"]["path"], "\n".join(wrong) + "\n", 0o644, owner, owner)
    write(r, f"/home/{owner}/.qmail-{ext}", f"|/usr/local/bin/lab-ml-send {mldir}\n", 0o644, owner, owner)


def _rev(ip: str) -> str:
    return ip.rsplit(".", 1)[1]


def rev_zone() -> str:
    """The reverse zone of the lab network (0.18.198.in-addr.arpa)."""
    return ".".join(reversed(str(C.NETWORK.network_address).split(".")[:3])) + ".in-addr.arpa"


def _dns(r: Path, cfg: dict) -> None:
    """The site zone and the reverse zone, in the profile's BIND layout."""
    fwd, rev = zone_texts(cfg)
    if C.MODERN:
        modern.bind(r, cfg, DOMAIN, rev_zone(), fwd, rev)
        return
    etc, data = cfg["bind"]["etc_dir"], cfg["bind"]["data_dir"]
    write(r, f"{etc}/named.conf", f"""\
// named.conf of the site's own BIND build (lab seed)
options {{
	directory "{etc}/{data}";
	pid-file "/run/named/named.pid";
	session-keyfile "/run/named/session.key";
	listen-on {{ any; }};
	listen-on-v6 {{ none; }};
	recursion no;
	allow-query {{ any; }};
	allow-transfer {{ none; }};
	dnssec-validation no;
}};

controls {{ }};

zone "{DOMAIN}" {{
	type master;
	file "localhost.zone";
}};

zone "{rev_zone()}" {{
	type master;
	file "localhost.rev";
}};
""")
    write(r, f"{etc}/{data}/localhost.zone", fwd)
    write(r, f"{etc}/{data}/localhost.rev", rev)


def zone_texts(cfg: dict) -> tuple[str, str]:
    """(site zone, reverse zone): the same records in both profiles, `@ IN SOA` without $ORIGIN."""
    return _forward_zone(cfg), _reverse_zone()


def _forward_zone(cfg: dict) -> str:
    net = C.NETWORK
    where = cfg["ttl"]["zone_dir"]
    old_ip, new_ip, bk_ip = C.before_ip("old"), C.before_ip("new"), C.before_ip("backup")
    extra = {n: str(net.network_address + i) for n, i in (("epa", 40), ("aoe", 41), ("cps", 42))}
    o, n, b = _host_names("old"), _host_names("new"), _host_names("backup")
    return f"""\
; {DOMAIN}: the site zone (served from {where})
$TTL 3600
@	IN	SOA	{o[0]}. root.{o[0]}. (
			{SERIAL}	; serial (YYYYMMDDnn)
			10800		; refresh (3 hours)
			3600		; retry (1 hour)
			604800		; expire (1 week)
			3600 )		; minimum (1 hour)
	IN	NS	{o[0]}.
	IN	MX	10 {o[0]}.
;
; the service name and the two machines
{o[1]}	IN	A	{old_ip}
{n[1]}	IN	A	{new_ip}
new-itpass	IN	A	{new_ip}
{cfg['hosts']['old']['machine']}	IN	A	{old_ip}
{cfg['hosts']['new']['machine']}	IN	A	{new_ip}
{b[1]}	IN	A	{bk_ip}
;
; mail domains
epa	IN	A	{extra['epa']}
	IN	MX	10 {o[0]}.
aoe	IN	A	{extra['aoe']}
	IN	MX	10 {o[0]}.
cps	IN	A	{extra['cps']}
	IN	MX	10 {o[0]}.
"""


def _reverse_zone() -> str:
    old_ip, new_ip, bk_ip = C.before_ip("old"), C.before_ip("new"), C.before_ip("backup")
    o, n, b = _host_names("old"), _host_names("new"), _host_names("backup")
    return f"""\
; {rev_zone()}: reverse zone of the lab network
$TTL 3600
@	IN	SOA	{o[0]}. root.{o[0]}. ( {SERIAL} 10800 3600 604800 3600 )
	IN	NS	{o[0]}.
{_rev(old_ip)}	IN	PTR	{o[0]}.
{_rev(new_ip)}	IN	PTR	{n[0]}.
{_rev(bk_ip)}	IN	PTR	{b[0]}.
"""


def _crontab(r: Path, user: str, lines: list[str]) -> None:
    body = ("# DO NOT EDIT THIS FILE - edit the master and reinstall.\n"
            f"# (lab seed crontab of {user})\n"
            "# m h  dom mon dow   command\n" + "\n".join(lines) + "\n")
    write(r, f"/var/spool/cron/crontabs/{user}", body, 0o600, user, "crontab")


def _crontabs(r: Path, host: str) -> None:
    d = mkdir(r, "/var/spool/cron/crontabs", 0o1730)
    os.chown(d, 0, _ids(r, "root", "crontab")[1])
    if host == "old":
        _crontab(r, "yasuda", ["15 3 * * * /home/yasuda/bin/cleanup.sh >/dev/null 2>&1"])
        _crontab(r, "kawahara", ["*/30 * * * * test -x $HOME/bin/sync && $HOME/bin/sync"])
        _crontab(r, "itpass", ["0 4 * * * /home/itpass/bin/wiki-backup", "5 4 * * 0 /home/itpass/bin/rotate-logs"])
    else:
        _crontab(r, "chikuwa1", ["0 2 * * * /home/chikuwa1/build/nightly.sh"])


def _files_for(r: Path, user: str, count: int) -> int:
    rng = random.Random(f"serverswap-lab/{user}")
    uid, gid = _ids(r, user)
    home = r / "home" / user
    made = 0
    words = ["report", "notes", "data", "draft", "src", "fig", "log", "paper", "memo", "table"]
    dirs = [home / d for d in ("public_html", "work", "work/analysis", "work/model/run1",
                               "work/model/run2", "Mail", "doc", "bin")]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        d = dirs[rng.randrange(len(dirs))]
        name = f"{rng.choice(words)}-{i:04d}.{rng.choice(['txt', 'dat', 'html', 'nc', 'sh'])}"
        size = rng.choice([0, 17, 120, 800, 1500, 4096, 9000]) if rng.random() < 0.97 else 70000
        p = d / name
        p.write_bytes(rng.randbytes(size))
        t = 1250000000 + rng.randrange(10_000_000)
        os.utime(p, (t, t))
        made += 1
    for p in [home, *home.rglob("*")]:
        os.lchown(p, uid, gid)
    return made


def _home_old(r: Path) -> None:
    for u in HOME_USERS:
        _files_for(r, u, FILES_PER_USER)
    y = r / "home/yasuda"
    odd = y / "odd names"
    odd.mkdir()
    for name in ("with space.txt", "日本語のファイル.txt", "Über-ümlaut.txt", "-leading-dash",
                 "quote's \"name\".txt", "  two leading spaces", "tab\there.txt"):
        (odd / name).write_text(f"odd name: {name}\n")
    (y / "notes.txt").write_text("yasuda's notes\n")
    os.symlink("notes.txt", y / "link-to-notes")
    os.symlink("/home/yasuda/work", y / "abs-link-to-work")
    os.symlink("does-not-exist", y / "dangling-link")
    os.symlink("odd names", y / "link to odd dir")
    (y / "hardlink-a").write_text("one inode, two names\n")
    os.link(y / "hardlink-a", y / "hardlink-b")
    os.link(y / "hardlink-a", y / "work/hardlink-c")
    (y / "empty-dir").mkdir()
    (y / "bin").mkdir(exist_ok=True)
    (y / "bin/cleanup.sh").write_text("#!/bin/sh\nfind $HOME/tmp -mtime +7 -delete 2>/dev/null\n")
    os.chmod(y / "bin/cleanup.sh", 0o755)
    (y / "private.txt").write_text("private\n")
    os.chmod(y / "private.txt", 0o600)
    uid, gid = _ids(r, "yasuda")
    for p in [y, *y.rglob("*")]:
        os.lchown(p, uid, gid)
    # mailboxes
    for u in ("yasuda", "morikawa"):
        mb = r / f"home/{u}/Mailbox"
        mb.write_text(
            f"From itpadmin@itpass.{DOMAIN} Thu Oct 22 10:00:00 2009\n"
            f"From: itpadmin@itpass.{DOMAIN}\nTo: {u}@itpass.{DOMAIN}\n"
            "Subject: server swap tomorrow\n\nThe server moves tomorrow morning.\n\n"
            f"From yasuda@itpass.{DOMAIN} Thu Oct 22 11:00:00 2009\n"
            f"From: yasuda@itpass.{DOMAIN}\nTo: {u}@itpass.{DOMAIN}\n"
            "Subject: re: server swap\n\n>From the look of it, all fine.\n\n")
        os.chmod(mb, 0o600)
        os.chown(mb, *_ids(r, u))
    _home_old_extras(r)


def _home_old_extras(r: Path) -> None:
    """Quota file, gate data, a separate file system under /home."""
    q = r / "home/aquota.user"
    q.write_bytes(random.Random("aquota").randbytes(8192))
    os.chmod(q, 0o600)
    g = mkdir(r, "/home/gate", 0o755, "itpass", "itpass")
    write(r, "/home/gate/users.db", "yasuda:1002:registered\nmorikawa:1003:registered\n", 0o640, "itpass", "itpass")
    write(r, "/home/gate/pending/README", "pending registrations\n", 0o644, "itpass", "itpass")
    del g
    mkdir(r, "/home/scratch/mnt", 0o755)
    if C.MODERN:
        modern.scratch(r, "/home/scratch/mnt", "size=16m,mode=755")
    else:
        write(r, "/etc/lab-fstab", "# lab: extra file systems mounted at boot (tmpfs PATH OPTIONS)\n"
                                   "tmpfs /home/scratch/mnt size=16m,mode=755\n")


def _home_new(r: Path, cfg: dict) -> None:
    for u in ("chikuwa1", "chikuwa2"):
        uid, gid = _ids(r, u)
        b = r / f"home/{u}/build"
        b.mkdir(parents=True, exist_ok=True)
        (b / "nightly.sh").write_text("#!/bin/sh\necho build\n")
        (b / "Makefile").write_text("all:\n\t@echo building\n")
        for p in [r / f"home/{u}", *(r / f"home/{u}").rglob("*")]:
            os.lchown(p, uid, gid)
    write(r, "/home/nishizawa/only-on-new.txt", "made on new before the swap (rsync --delete removes it)\n",
          0o644, "nishizawa", "nishizawa")


def _backup(r: Path, cfg: dict) -> None:
    bc = cfg["backup_check"]
    user, group, home = bc["user"], bc["group"], bc["dir"]
    chroot(r, f"groupadd -g 2000 {group} && useradd -u 2000 -g {group} -m -d {home} -s /bin/bash "
              f"-c 'dennou backup' {user}")
    _chpasswd(r, [(user, f"{user}-backup-pw")])
    for s in bc["scripts"]:
        script = s["run"].split()[0].lstrip("./")
        logpath = s["log"]
        tag = script.rsplit(".", 1)[0]
        src = f"{home}/data/{tag}"
        for i in range(20):
            write(r, f"{src}/file{i:02d}.dat", f"{tag} data {i}\n" * 10, 0o644, user, group)
        write(r, f"{home}/{script}", f"""\
#!/bin/sh
# {script}: daily copy to dennou (lab stand-in); -n = dry run
cd "$(dirname "$0")" || exit 1
DRY=""
[ "$1" = "-n" ] && DRY="-n"
LOG="{logpath}"
mkdir -p "$(dirname "$LOG")"
{{
  echo "== $(date '+%Y-%m-%d %H:%M:%S') {tag} start ${{DRY:+(dry run)}}"
  rsync $DRY -av --delete "{src}/" "{home}/mirror/{tag}/"
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "== $(date '+%Y-%m-%d %H:%M:%S') {tag}: rsync finished successfully"
  else
    echo "== $(date '+%Y-%m-%d %H:%M:%S') {tag}: rsync FAILED (exit $rc)"
  fi
  exit $rc
}} > "$LOG" 2>&1
""", 0o775, user, group)
    mkdir(r, f"{home}/mirror", 0o775, user, group)
    d = mkdir(r, "/var/spool/cron/crontabs", 0o1730)
    os.chown(d, 0, _ids(r, "root", "crontab")[1])
    _crontab(r, user, [f"30 1 * * * cd {home} && ./{s['run'].split()[0].lstrip('./')}"
                       for s in bc["scripts"]])


SERVICES = {
    "old": ["ssh", "apache2", "openbsd-inetd", "qmail", "tcpserver", "cron"],
    "new": ["ssh", "apache2", "bind", "openbsd-inetd", "qmail", "tcpserver", "cron"],
    "backup": ["ssh", "cron"],
}
MANAGED = ["ssh", "apache2", "bind", "openbsd-inetd", "qmail", "tcpserver", "cron"]


def _services(r: Path, host: str) -> None:
    if C.MODERN:
        modern.services(r, host, once_file(host))
        return
    on = SERVICES[host]
    cmds = []
    for s in MANAGED:
        if not (r / "etc/init.d" / s).exists():
            continue
        if s in on:
            cmds.append(f"update-rc.d {s} defaults >/dev/null")
        else:
            cmds.append(f"update-rc.d -f {s} remove >/dev/null")
    chroot(r, " && ".join(cmds))
    if host == "old":
        # BIND runs on old but is not on at boot (the runbook's D2 turns it on)
        write(r, "/etc/lab-init.once", "# run once at the first boot after the seed\n/etc/init.d/bind start\n")
