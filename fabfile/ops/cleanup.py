"""The week after (A1 reference copies, A3 build accounts) on new.

Both remove things for good, so both list what will go and ask first, and
both refuse inputs that could reach further than meant: A1 only removes
absolute paths at least two levels deep, A3 only accounts whose UID is in
the users' range (a pattern matching `root` or a daemon is an error).
"""

from __future__ import annotations

import fnmatch
import posixpath
import stat as stat_mod

from ..edit import EditError
from ..edit import sudoers as sudoers_edit
from ..edit.accounts import parse_passwd
from ..errors import RemoteError
from ..hostfiles import TEMP

VISUDO = ["visudo", "-cf", TEMP]


# ---- A1 ----------------------------------------------------------------------


def check_removable(path: str) -> str:
    """The path A1 may `rm -r`, or EditError naming the cleanup.paths entry."""
    normal = posixpath.normpath(path) if path else ""
    if not path.startswith("/") or normal != path.rstrip("/") or ".." in path.split("/"):
        raise EditError(f"cleanup.paths: {path!r} must be an absolute, normalised path (no .., no //)")
    if normal.count("/") < 2:
        raise EditError(f"cleanup.paths: refusing {path!r}: a top-level directory; name the copied directory itself")
    return normal


def existing(host, paths: list[str]) -> list[str]:
    return [p for p in (check_removable(p) for p in paths) if host.exists(p)]


def sizes(host, paths: list[str]) -> dict[str, str]:
    out = host.probe(["du", "-sh", "--", *paths]).stdout
    found = {}
    for line in out.splitlines():
        size, _, path = line.partition("\t")
        found[path] = size
    return found


def remove(host, paths: list[str]) -> None:
    for path in paths:
        host.change(["rm", "-r", "--", path], what=f"rm -r {path}")


# ---- A3 ----------------------------------------------------------------------


def build_accounts(passwd_text: str, pattern: str, uid_min: int, uid_max: int) -> list[tuple[str, int]]:
    """(name, uid) of the passwd entries matching `pattern` (fnmatch); refuses ones outside the user range."""
    if not pattern.strip() or pattern.strip("*?") == "":
        raise EditError(f"build_accounts.pattern {pattern!r} would match every account; name the build accounts (e.g. chikuwa*)")
    matched = [(e.name, e.uid) for e in parse_passwd(passwd_text) if fnmatch.fnmatchcase(e.name, pattern)]
    outside = [f"{name} (uid {uid})" for name, uid in matched if not uid_min <= uid <= uid_max]
    if outside:
        raise EditError(
            f"build_accounts.pattern {pattern!r} matches {', '.join(outside)}, outside the users' UIDs "
            f"{uid_min}-{uid_max}; narrow the pattern"
        )
    return matched


def all_uids(passwd_text: str) -> list[tuple[str, int]]:
    return [(e.name, e.uid) for e in parse_passwd(passwd_text)]


def read_sudoers_tree(host, main: str, hostname: str):
    """sudoers and every file and directory it includes (@include, @includedir, #include...), as sudo finds them."""
    files: dict[str, str | None] = {}
    listings: dict[str, list[str] | None] = {}
    while True:
        need_files, need_dirs = sudoers_edit.missing_inputs(files, listings, main, hostname)
        if not need_files and not need_dirs:
            return files, listings
        for path in need_files:
            files[path] = host.read_text(path) if host.exists(path) else None
        for directory in need_dirs:
            entries = host.files.listdir(directory, attrs=True) if host.exists(directory) else None
            listings[directory] = None if entries is None else [e.filename for e in entries if stat_mod.S_ISREG(e.st_mode)]


def remove_from_sudoers(host, path: str, users: list[tuple[str, int]], unique_uids: set[int]):
    """The build accounts out of sudoers and its includes (another user's rule never changes); each file passes visudo -cf."""
    files, listings = read_sudoers_tree(host, path, host.probe(["hostname"]).stdout.strip().split(".")[0])
    plan = sudoers_edit.remove_users_tree(files, listings, {name: (uid if uid in unique_uids else None) for name, uid in users}, path)
    if not plan:
        host.say(f"{path} and its includes: no rule names {', '.join(n for n, _ in users)}: unchanged")
    return [host.edit(p, lambda _t, text=text: text, validate=VISUDO) for p, text in plan.items()]


def userdel(host, name: str) -> None:
    """`userdel -r NAME`; a missing home or mail spool is a warning, the account still gone."""
    if host.dry:
        host.say(f"dry run: would run: userdel -r {name}")
        return
    result = host.runner.run(["userdel", "-r", name])
    gone = not host.check(["getent", "passwd", name])
    detail = (result.stderr or result.stdout).strip().splitlines()
    if not gone:
        raise RemoteError(f"{host.alias}: userdel -r {name} failed ({detail[0] if detail else 'exit ' + str(result.exited)}); "
                          f"end the user's processes (pkill -u {name}) and run the task again")
    if not result.ok and detail:
        host.say(f"userdel -r {name}: {detail[0]}")
    host.record("change", detail=f"userdel -r {name}")
    host.say(f"{name}: account and home removed")
