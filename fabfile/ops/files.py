"""Files copied from old to new through the operator: C2 crontabs, C7 pop.auth.

Owner and group travel by NAME (remote.copy_file -> Host.put_bytes), since
UIDs may differ between the machines. One exception, for C2: the runbook
copies the crontabs (C2) before it merges the accounts (C3), so a crontab's
owner may not exist on new yet. Its file then gets old's numeric UID - which
is exactly the UID C3 gives that user, since C3 carries passwd lines verbatim -
provided no other account on new holds that UID (otherwise: refused, the fix
is C3's conflict list).
"""

from __future__ import annotations

import stat as stat_mod

from ..errors import RemoteError
from ..hostfiles import sha256
from ..remote import copy_file


def regular_files(host, directory: str) -> tuple[list, list[str]]:
    """(regular files as SFTPAttributes, names of anything else) directly in `directory`."""
    files, others = [], []
    for entry in host.files.listdir(directory, attrs=True):
        (files if stat_mod.S_ISREG(entry.st_mode) else others).append(entry)
    return files, [e.filename for e in others]


def getent(host, database: str, key: str | int) -> str | None:
    """The name for `key` in passwd/group on host (None when absent)."""
    result = host.probe(["getent", database, str(key)])
    return result.stdout.split(":", 1)[0] if result.ok and result.stdout.strip() else None


def owner_on_target(target, user: str, group: str, uid: int, gid: int, path: str) -> tuple[str, str]:
    """(owner spec for chown, how it will read back via stat %U:%G) on the target."""
    parts, shown = [], []
    for database, name, number in (("passwd", user, uid), ("group", group, gid)):
        if name != "UNKNOWN" and getent(target, database, name):
            parts.append(name)
            shown.append(name)
            continue
        holder = getent(target, database, number)
        if holder is not None and holder != name:
            raise RemoteError(
                f"{path}: its {'owner' if database == 'passwd' else 'group'} {name} ({number}) is not on {target.alias}, "
                f"and {number} is {holder} there; run C3 merge-accounts to see the conflict, fix it, then C2 again"
            )
        target.say(f"{path}: {name} is not on {target.alias} yet: numeric {number} (C3 adds {name} with that ID)")
        parts.append(str(number))
        shown.append("UNKNOWN")
    return ":".join(parts), ":".join(shown)


def copy_dir_files(source, target, directory: str) -> list:
    """Every regular file of `directory` from source to target: same bytes, mode, owner and group."""
    if not target.exists(directory):
        raise RemoteError(f"{target.alias}: {directory} does not exist; install cron on {target.alias} (it creates the directory), then run again")
    if not source.exists(directory):
        raise RemoteError(f"{source.alias}: {directory} does not exist; check crontabs.dir in hosts.toml")
    files, others = regular_files(source, directory)
    for name in others:
        source.say(f"{directory}/{name}: not a regular file, skipped")
    results = []
    for entry in files:
        path = f"{directory.rstrip('/')}/{entry.filename}"
        owner_name = source.files.owner_of(path)
        user, _, group = owner_name.partition(":")
        owner, shown = owner_on_target(target, user, group, entry.st_uid, entry.st_gid, path)
        mode = stat_mod.S_IMODE(entry.st_mode)
        if owner == shown:
            results.append(copy_file(source, target, path, owner=owner, mode=mode))
            continue
        data = source.read_bytes(path)
        if _same_numeric(target, path, data, mode, owner):
            target.say(f"{path}: unchanged")
            target.record("unchanged", path=path, sha256_before=sha256(data))
            continue
        results.append(target.put_bytes(path, data, mode=mode, owner=owner))
    if not files:
        source.say(f"{directory}: no crontab on {source.alias}")
    return results


def _same_numeric(target, path: str, data: bytes, mode: int, owner: str) -> bool:
    """put_bytes compares owners by name; a numeric owner (user not on new yet) is compared here by ID."""
    if not target.exists(path) or target.read_bytes(path) != data:
        return False
    st = target.stat(path)
    user, group = owner.split(":")
    wanted = (user if user.isdigit() else getent_id(target, "passwd", user),
              group if group.isdigit() else getent_id(target, "group", group))
    return stat_mod.S_IMODE(st.st_mode) == mode and (str(st.st_uid), str(st.st_gid)) == wanted


def getent_id(host, database: str, name: str) -> str | None:
    """The numeric ID of a user or group name on host."""
    result = host.probe(["getent", database, name])
    fields = result.stdout.strip().split(":")
    return fields[2] if result.ok and len(fields) > 2 else None


def copy_secret_file(source, target, path: str, owner: str, group: str):
    """C7: one file root to root, owner:group given, mode kept, shown by sha256/size only."""
    for database, name in (("passwd", owner), ("group", group)):
        if getent(target, database, name) is None:
            raise RemoteError(f"{target.alias}: {'user' if database == 'passwd' else 'group'} {name} does not exist; create it on {target.alias} (or fix pop_auth.{'owner' if database == 'passwd' else 'group'})")
    if not source.exists(path):
        raise RemoteError(f"{source.alias}: {path} does not exist; check pop_auth.path in hosts.toml")
    data = source.read_bytes(path)
    register_secrets(data)
    source.say(f"{path}: {len(data)} bytes, sha256 {sha256(data)[:16]}…")
    return copy_file(source, target, path, owner=f"{owner}:{group}")


def register_secrets(data: bytes) -> None:
    """The secrets of a `user secret` password file (pop.auth as text) go to the one secret filter: never shown."""
    from ..edit import secrets

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # a dbm file: nothing printable to register
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and not line.lstrip().startswith("#"):
            secrets.add(words[-1])
