"""The operator's known_hosts, rewritten for C10 (pure text functions + one atomic write).

When old and new exchange addresses, the key that used to answer at an
address now answers at the other one. `fab` must neither bypass the check
nor leave a stale line that would make the next connection fail (or, worse,
trust the wrong machine): the line for a host's after-address is replaced by
the key that host had over the verified connection before the restart.

Edits are textual so that everything else in the file stays byte for byte:
comments, other hosts, @cert-authority and @revoked lines, hashed entries
(`|1|salt|hash`, HashKnownHosts) of other names. paramiko's HostKeys.save
would rewrite the whole file and drop what it does not understand.
No Fabric/paramiko import here (unit-tested on strings).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import tempfile

from ..edit import line_body, split_lines_keepends


def host_field_name(address: str, port: int = 22) -> str:
    """How ssh writes a host in known_hosts: `addr`, or `[addr]:port` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def _hashed_matches(entry: str, name: str) -> bool:
    """`|1|base64(salt)|base64(hmac-sha1(salt, name))`, as ssh-keygen -H writes it."""
    parts = entry.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


def _split(content: str):
    """(hosts field, key type, key blob) of an ordinary line; None for comments, markers, junk."""
    stripped = content.strip()
    if not stripped or stripped.startswith("#") or stripped.startswith("@"):
        return None
    fields = stripped.split()
    if len(fields) < 3:
        return None
    return fields[0], fields[1], fields[2]


def _without(hosts_field: str, name: str) -> str | None:
    """The hosts field minus `name`; None when nothing of it matched."""
    if hosts_field.startswith("|"):
        return "" if _hashed_matches(hosts_field, name) else None
    patterns = hosts_field.split(",")
    kept = [p for p in patterns if p != name]
    return None if len(kept) == len(patterns) else ",".join(kept)


def entries_for(text: str, name: str) -> list[tuple[str, str]]:
    """(key type, blob) of every line that names `name` exactly (plain or hashed)."""
    found = []
    for raw in split_lines_keepends(text):
        parsed = _split(line_body(raw)[0])
        if parsed and _without(parsed[0], name) is not None:
            found.append((parsed[1], parsed[2]))
    return found


def _remove(text: str, name: str, blob: str | None) -> str:
    out = []
    for raw in split_lines_keepends(text):
        content, ending = line_body(raw)
        parsed = _split(content)
        if parsed is None or (blob is not None and parsed[2] != blob):
            out.append(raw)
            continue
        rest = _without(parsed[0], name)
        if rest is None:
            out.append(raw)
        elif rest:
            # "a,b ssh-ed25519 AAAA": keep the other names on the line
            start = content.index(parsed[0])
            out.append(content[:start] + rest + content[start + len(parsed[0]):] + ending)
    return "".join(out)


def set_host_key(text: str, name: str, key_type: str, blob: str) -> str:
    """`name` maps to exactly this key: stale lines for `name` go, one line is added.

    Unchanged (same text) when that is already the only entry for `name`.
    """
    if entries_for(text, name) == [(key_type, blob)]:
        return text
    text = _remove(text, name, None)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + f"{name} {key_type} {blob}\n"


def forget_host_key(text: str, name: str, blob: str) -> str:
    """Remove `name` -> this key (the line C10 added for a host that did not come back)."""
    return _remove(text, name, blob)


def rewrite_file(path: str, transform) -> bool:
    """Apply a pure transform to a local file atomically (same mode); True when it changed."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            before = fh.read()
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        before, mode = "", 0o600
    after = transform(before)
    if after == before:
        return False
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(after)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return True
