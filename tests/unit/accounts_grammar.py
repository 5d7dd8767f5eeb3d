"""passwd/shadow/group/gshadow for tests: a hypothesis grammar and a scratch root for pwck/grpck.

`machines()` draws the four files of one machine: accounts (shadowed, or
with a legacy hash in passwd), their primary and supplementary groups,
NIS compat lines (+, -, +user, -user, +@netgroup, -@netgroup) kept last as
shadow-utils keeps them, comments and blank lines (which glibc skips), and
files that may lack their final newline.

`scratch_root(texts)` writes them under a temp dir with every home
directory and shell present, so `pwck -r -R ROOT` / `grpck -r -R ROOT`
complain only about the files themselves.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from hypothesis import strategies as st

HASH_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_salt = st.text(HASH_ALPHABET, min_size=8, max_size=16)
_digest = st.text(HASH_ALPHABET, min_size=43, max_size=86)


@st.composite
def crypt_hashes(draw):
    """crypt(3) strings of the kinds a Debian shadow file holds (yescrypt, SHA-512/256, MD5, bcrypt, DES)."""
    kind = draw(st.sampled_from(["y", "6", "5", "1", "2b", "gy", "7", "des"]))
    if kind == "des":
        return draw(st.text(HASH_ALPHABET, min_size=13, max_size=13))
    if kind == "2b":
        return f"$2b${draw(st.sampled_from(['05', '10', '12']))}${draw(st.text(HASH_ALPHABET, min_size=53, max_size=53))}"
    if kind in ("y", "gy", "7"):
        return f"${kind}$j9T${draw(_salt)}${draw(_digest)}"
    return f"${kind}${draw(_salt)}${draw(_digest)}"


_locked = st.sampled_from(["!", "*", "!*", "", "!!"])
COMPAT = st.sampled_from(["+", "-", "+::::::", "+alice::::::", "-bob::::::", "+@admins::::::", "-@guests::::::"])
NOISE = st.sampled_from(["", "# local accounts", "#", "   "])


@st.composite
def users(draw, names, uid_range=(1000, 1010)):
    """[(name, uid, gid, secret, legacy)]: unique names and UIDs; a legacy user has its hash in passwd."""
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    uids = draw(st.lists(st.integers(*uid_range), unique=True, min_size=len(chosen), max_size=len(chosen)))
    out = []
    for name, uid in zip(chosen, uids):
        secret = draw(st.one_of(crypt_hashes(), _locked))
        out.append((name, uid, uid, secret, draw(st.booleans()) and secret not in ("", "!!")))
    return out


def _file(draw, lines: list[str], compat_lines: list[str]) -> str:
    noise = draw(st.lists(NOISE, max_size=2))
    body = draw(st.permutations(lines + noise)) + compat_lines
    text = "\n".join(body)
    return text + ("\n" if body and draw(st.booleans()) else "")


@st.composite
def machines(draw, names=("alice", "bob", "carol", "chikuwa1", "chikuwa2"), system=True):
    """(passwd, shadow, group, gshadow) texts of one machine."""
    people = draw(users(list(names)))
    base = [("root", 0, 0, "*", False), ("daemon", 1, 1, "*", False)] if system else []
    everyone = base + people
    supplementary = [("audio", 29, draw(st.lists(st.sampled_from([p[0] for p in people] or ["root"]), unique=True, max_size=2)))]
    passwd = [f"{n}:{s if legacy else 'x'}:{u}:{g}:{n.title()}:/home/{n}:/bin/sh" for n, u, g, s, legacy in everyone]
    shadow = [f"{n}:{s}:19000:0:99999:7:::" for n, u, g, s, legacy in everyone if not legacy]
    groups = [(n, g, "") for n, _, g, _, _ in everyone] + [(g, gid, ",".join(m)) for g, gid, m in supplementary]
    group = [f"{n}:x:{g}:{m}" for n, g, m in groups]
    gshadow = [f"{n}:!::{m}" for n, g, m in groups]
    compat = draw(st.lists(COMPAT, max_size=2))
    return tuple(_file(draw, lines, compat if kind != "gshadow" else []) for kind, lines in
                 (("passwd", passwd), ("shadow", shadow), ("group", group), ("gshadow", gshadow)))


class ScratchRoot:
    """A directory tree pwck -R / grpck -R can chroot into: /etc's four files, homes and shells."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="accounts-root-")
        self.path = Path(self._tmp.name)
        (self.path / "etc").mkdir()

    def write(self, passwd: str, shadow: str, group: str, gshadow: str) -> "ScratchRoot":
        for name, text, mode in (("passwd", passwd, 0o644), ("shadow", shadow, 0o640),
                                 ("group", group, 0o644), ("gshadow", gshadow, 0o640)):
            path = self.path / "etc" / name
            path.write_text(text)
            os.chmod(path, mode)
        for line in passwd.splitlines():
            fields = line.split(":")
            if len(fields) == 7 and fields[5].startswith("/") and fields[6].startswith("/"):
                (self.path / fields[5].lstrip("/")).mkdir(parents=True, exist_ok=True)
                shell = self.path / fields[6].lstrip("/")
                shell.parent.mkdir(parents=True, exist_ok=True)
                if not shell.exists():
                    shell.write_text("#!/bin/true\n")
                    shell.chmod(0o755)
        return self

    def read(self) -> tuple[str, str, str, str]:
        return tuple((self.path / "etc" / n).read_text() for n in ("passwd", "shadow", "group", "gshadow"))

    def check(self) -> str:
        """pwck -r and grpck -r output (both), as C3 runs them on new."""
        out = []
        for tool in ("/usr/sbin/pwck", "/usr/sbin/grpck"):
            result = subprocess.run([tool, "-r", "-R", str(self.path)], capture_output=True, text=True)
            out.append(result.stdout + result.stderr + f"{Path(tool).name}-exit={result.returncode}\n")
        return "".join(out)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([argv[0], "-R", str(self.path), *argv[1:]], capture_output=True, text=True)

    def close(self):
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
