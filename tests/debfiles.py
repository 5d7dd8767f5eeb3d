"""Files and programs from Debian's own packages, for tests on real input.

`unpacked("openssh-server", "libwrap0")` downloads the packages of this
machine's Debian release with `apt-get download` (the mirror is whatever
this machine's apt sources say), unpacks them with `dpkg-deb -x` into one
tree under the lab's cache directory, and returns that tree. Nothing is
installed on this machine and no service is started. A second call costs
one directory lookup.

`program(tree, "usr/sbin/sshd")` gives an argv prefix that runs a binary
of the tree with the tree's libraries first on the loader path, so an
unpacked sshd, visudo or named-checkzone runs without installing its
package.

When apt cannot fetch (no network, no package lists), the calling test is
skipped with the reason: a missing download is not a test result.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("LAB_VAR_DIR", "/var/lib/serverswap-lab")) / "debs"


def _lib_dirs(tree: Path) -> list[str]:
    found = []
    for sub in ("lib", "usr/lib", "usr/libexec"):
        base = tree / sub
        if not base.is_dir():
            continue
        for dirpath, _dirnames, filenames in os.walk(base):
            if any(".so" in name for name in filenames):
                found.append(dirpath)
    return found


def unpacked(*packages: str) -> Path:
    """One tree holding the unpacked contents of `packages` (cached; skip the test if apt cannot fetch)."""
    key = hashlib.sha256(" ".join(sorted(packages)).encode()).hexdigest()[:12]
    tree = CACHE / f"tree-{'-'.join(sorted(packages))[:60]}-{key}"
    if (tree / ".complete").exists():
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tree / ".complete").exists():
            return tree
        downloads = CACHE / "downloads"
        downloads.mkdir(exist_ok=True)
        os.chmod(downloads, 0o777)  # apt's _apt user writes here when it can
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            pytest.skip("apt-get/dpkg-deb not available: cannot fetch Debian's own files")
        for package in packages:
            if not list(downloads.glob(f"{package}_*.deb")):
                result = subprocess.run(["apt-get", "download", package], cwd=downloads, capture_output=True, text=True)
                if result.returncode != 0:
                    reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
                    pytest.skip(f"apt-get download {package} failed ({reason}); run apt-get update, or check the network")
        tmp = tree.with_name(tree.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for package in packages:
            deb = sorted(downloads.glob(f"{package}_*.deb"))[-1]
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        (tmp / ".complete").write_text(" ".join(packages) + "\n")
        shutil.rmtree(tree, ignore_errors=True)
        tmp.rename(tree)
    return tree


def program(tree: Path, relative: str) -> list[str]:
    """argv prefix that runs `relative` (e.g. "usr/sbin/sshd") from the tree, its libraries first."""
    path = tree / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in {tree}")
    env_path = ":".join(_lib_dirs(tree) + [os.environ.get("LD_LIBRARY_PATH", "")]).strip(":")
    loader = tree / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    if loader.exists():  # the tree brings its own libc (another release): run through its own loader
        return [str(loader), "--library-path", ":".join(_lib_dirs(tree)), str(path)]
    return ["env", f"LD_LIBRARY_PATH={env_path}", str(path)]


def sshd_test(tree: Path, etc_ssh: Path, *args: str) -> subprocess.CompletedProcess:
    """`sshd ARGS` of the unpacked openssh-server, as if `etc_ssh` were /etc/ssh.

    Runs in a private mount namespace (nothing on this machine changes):
    `etc_ssh` is bound over /etc/ssh (so `Include /etc/ssh/sshd_config.d/*.conf`
    reads the test's drop-ins), /etc/passwd gets the `sshd` privilege
    separation user sshd insists on, and /run is a fresh tmpfs with /run/sshd.
    A host key is made in `etc_ssh` if it has none. Typical ARGS:
    `-T -f /etc/ssh/sshd_config -C user=root,host=old,addr=192.0.2.9`, or `-t -f ...`.
    """
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to run an unpacked sshd")
    key = etc_ssh / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    passwd = etc_ssh.parent / f".passwd-for-sshd-{os.getpid()}"
    passwd.write_text(Path("/etc/passwd").read_text() + "sshd:x:65500:65534::/run/sshd:/usr/sbin/nologin\n")
    argv = [*program(tree, "usr/sbin/sshd"), "-h", "/etc/ssh/ssh_host_ed25519_key", *args]
    script = (
        'mount --bind "$1" /etc/ssh && mount --bind "$2" /etc/passwd && mount -t tmpfs tmpfs /run '
        '&& mkdir -p /run/sshd && shift 2 && exec "$@"'
    )
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                               str(etc_ssh), str(passwd), *argv], capture_output=True, text=True)
    finally:
        passwd.unlink(missing_ok=True)


def sshd_effective(tree: Path, etc_ssh: Path, user: str = "root", host: str = "old", addr: str = "192.0.2.9") -> dict[str, str]:
    """{keyword: value} of `sshd -T` for one connection (Match blocks applied), /etc/ssh = etc_ssh."""
    result = sshd_test(tree, etc_ssh, "-T", "-f", "/etc/ssh/sshd_config", "-C", f"user={user},host={host},addr={addr}")
    if result.returncode != 0:
        raise AssertionError(f"sshd -T refused the configuration: {result.stderr.strip()}")
    values = {}
    for line in result.stdout.splitlines():
        keyword, _, value = line.partition(" ")
        values.setdefault(keyword.lower(), value)
    return values


# Debian's bind9 (its /etc/bind), its tools and the libraries they load, for the zone and named.conf tests.
BIND = ("bind9", "bind9-utils", "bind9-libs", "dns-root-data", "libuv1", "libjemalloc2", "libfstrm0",
        "libprotobuf-c1", "liblmdb0", "libmaxminddb0", "libjson-c5", "libnghttp2-14", "libxml2", "libicu72")


def bind_tools() -> Path:
    """The unpacked BIND tree (`program(tree, "usr/bin/named-checkzone")`); skips when the tools do not run here."""
    tree = unpacked(*BIND)
    result = subprocess.run([*program(tree, "usr/bin/named-checkzone"), "-v"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"the unpacked named-checkzone does not run here: {(result.stderr or result.stdout).strip()[:200]}")
    return tree


def _debian_source() -> tuple[str | None, str | None]:
    """(URI, Signed-By) of this machine's Debian mirror, as its deb822 apt sources give them."""
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in src.read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines()
                          if ":" in line and not line[:1].isspace() and not line.startswith("#"))
            mirror = next((uri for uri in fields.get("URIs", "").split() if uri.rstrip("/").endswith("/debian")), None)
            if mirror:
                return mirror, fields.get("Signed-By", "").strip() or None
    return None, None


def _apt_options(suite: str) -> list[str]:
    """apt-get options for `suite` of this machine's Debian mirror, with a private state under CACHE."""
    base = CACHE / f"apt-{suite}"
    options = [f"-o Dir::Etc::SourceList=/dev/null", f"-o Dir::Etc::SourceParts={base}/sources",
               f"-o Dir::State::Lists={base}/lists", f"-o Dir::Cache={base}/cache", "-o APT::Sandbox::User=root"]
    options = [part for option in options for part in option.split(" ", 1)]
    if (base / ".updated").exists():
        return options
    mirror, keyring = _debian_source()
    if mirror is None:
        pytest.skip(f"no Debian mirror in this machine's apt sources: cannot fetch {suite}")
    for sub in ("sources", "lists/partial", "cache/archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "sources" / f"{suite}.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {suite}\nComponents: main\n" + (f"Signed-By: {keyring}\n" if keyring else ""))
    result = subprocess.run(["apt-get", *options, "update"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"apt-get update for {suite} failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    (base / ".updated").touch()
    return options


def unpacked_from(suite: str | None, *specs: str) -> Path:
    """unpacked() for another suite of the same mirror (e.g. "trixie", with its own libc6 in the tree)
    and/or pinned versions ("rsync=3.2.7-1+deb12u6"); cached, skipped with the reason when apt cannot fetch."""
    key = hashlib.sha256(f"{suite} {' '.join(sorted(specs))}".encode()).hexdigest()[:12]
    tree = CACHE / f"tree-{suite or 'pinned'}-{key}"
    if (tree / ".complete").exists():
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        options = _apt_options(suite) if suite else []
        downloads = CACHE / f"downloads-{suite or 'pinned'}"
        downloads.mkdir(exist_ok=True)
        tmp = tree.with_name(tree.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for spec in specs:
            name, _, version = spec.partition("=")
            pattern = f"{name}_{version.replace(':', '%3a') or '*'}_*.deb"
            if not list(downloads.glob(pattern)):
                result = subprocess.run(["apt-get", *options, "download", spec], cwd=downloads, capture_output=True, text=True)
                if result.returncode != 0:
                    reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
                    pytest.skip(f"apt-get download {spec} ({suite or 'this release'}) failed: {reason}")
            subprocess.run(["dpkg-deb", "-x", str(sorted(downloads.glob(pattern))[-1]), str(tmp)], check=True)
        (tmp / ".complete").write_text(" ".join(specs) + "\n")
        shutil.rmtree(tree, ignore_errors=True)
        tmp.rename(tree)
    return tree


def with_etc(files: dict[str, str], argv: list[str], hostname: str | None = None) -> subprocess.CompletedProcess:
    """Run argv in a private mount namespace whose /etc shows `files` ({"/etc/...": text}) over the real /etc.

    /etc becomes an overlay (this machine's /etc below, a tmpfs above) and /run a
    fresh tmpfs, so sudo, visudo and cvtsudoers read the test's /etc/sudoers,
    /etc/sudoers.d, /etc/passwd... and nothing on this machine changes. Files
    named sudoers* (and everything under sudoers.d) get mode 0440, as sudo demands.
    With `hostname`, the command also gets its own UTS namespace with that host name.
    """
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed for a private /etc")
    import tempfile
    with tempfile.TemporaryDirectory(prefix="etc-overlay-") as tmp:
        upper, scratch = Path(tmp, "etc"), Path(tmp, "scratch")
        scratch.mkdir()
        for path, text in files.items():
            target = upper / Path(path).relative_to("/etc")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(0o440 if target.name.startswith("sudoers") or target.parent.name == "sudoers.d" else 0o644)
        upper.mkdir(exist_ok=True)
        script = ('mount -t tmpfs tmpfs "$1" && mkdir "$1/u" "$1/w" && cp -a "$2/." "$1/u/" '
                  '&& mount -t overlay overlay -o lowerdir=/etc,upperdir="$1/u",workdir="$1/w" /etc '
                  '&& mount -t tmpfs tmpfs /run && shift 2 && exec "$@"')
        if hostname:
            script = f"hostname {hostname} && {script}"
        uts = ["--uts"] if hostname else []
        return subprocess.run(["unshare", "--mount", *uts, "--propagation", "private", "sh", "-c", script, "sh",
                               str(scratch), str(upper), *argv], capture_output=True, text=True)
