"""The week after (A1 reference copies, A3 build accounts) on new.

Both remove things for good, so both list what will go and ask first, and
both refuse inputs that could reach further than meant: A1 only removes
absolute paths at least two levels deep, A3 only accounts whose UID is in
the users' range (a pattern matching `root` or a daemon is an error).
"""

from __future__ import annotations

import fnmatch
import posixpath

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


def without_users(text: str, names: list[str]) -> str:
    for name in names:
        text = sudoers_edit.remove_user(text, name)
    return text


def remove_from_sudoers(host, path: str, names: list[str]):
    return host.edit(path, lambda text: without_users(text, names), validate=VISUDO)


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
