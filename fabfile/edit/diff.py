"""How an edit is shown before it is made.

Ordinary files get a unified diff.  Files holding secrets (shadow,
gshadow, pop.auth, private keys) must never have their content on the
screen or in the journal: for colon files the operator sees which entries
are added, removed or changed, by name; for the rest only that they
changed.
"""

from __future__ import annotations

import difflib
import posixpath
import re

from . import line_body, split_lines_keepends

FIELD_NAMES = {
    "passwd": ("name", "password", "uid", "gid", "gecos", "home", "shell"),
    "shadow": ("name", "password", "last change", "min age", "max age", "warn", "inactive", "expire", "reserved"),
    "group": ("name", "password", "gid", "members"),
    "gshadow": ("name", "password", "admins", "members"),
}

_SECRET_NAMES = (
    re.compile(r"^g?shadow(?:[~.\-_].*)?$"),
    re.compile(r"^pop\.auth(?:[~.\-_].*)?$"),
    re.compile(r"^id_[^/]*$"),
    re.compile(r"^.+_key(?:[~.\-_].*)?$"),
    re.compile(r"^.+\.(?:key|pem)$"),
)


def unified(path: str, before: str, after: str) -> str:
    """A unified diff, with diff's marker for a missing final newline."""
    diff = difflib.unified_diff(
        split_lines_keepends(before),
        split_lines_keepends(after),
        fromfile=f"{path} (before)",
        tofile=f"{path} (after)",
    )
    out = []
    for line in diff:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def is_secret(path: str) -> bool:
    """Whether showing the file's content would leak a secret.

    authorized_keys and *.pub hold public keys only: not secret.
    """
    name = posixpath.basename(path.rstrip("/"))
    if name.endswith(".pub") or name.startswith("authorized_keys"):
        return False
    return any(pattern.match(name) for pattern in _SECRET_NAMES)


def colon_kind(kind_or_path: str) -> str | None:
    """"shadow", "/etc/shadow~" -> "shadow"; None for non-colon files."""
    if kind_or_path in FIELD_NAMES:
        return kind_or_path
    name = posixpath.basename(kind_or_path)
    match = re.match(r"^(passwd|shadow|group|gshadow)(?:[~.\-_].*)?$", name)
    return match.group(1) if match else None


def _entries(text: str) -> dict[str, list[list[str]]]:
    """name -> field lists; lines without ':' are keyed by line number only."""
    entries: dict[str, list[list[str]]] = {}
    for number, raw in enumerate(split_lines_keepends(text), start=1):
        content, _ = line_body(raw)
        if not content.strip():
            continue
        if ":" not in content:
            entries.setdefault(f"(unparsed line {number})", []).append([content])
            continue
        fields = content.split(":")
        entries.setdefault(fields[0], []).append(fields)
    return entries


def _changed_fields(kind: str, before: list[list[str]], after: list[list[str]]) -> list[str]:
    names = FIELD_NAMES[kind]
    if len(before) != len(after):
        return ["entry count"]
    changed = []
    for old, new in zip(before, after):
        for index in range(max(len(old), len(new))):
            old_value = old[index] if index < len(old) else None
            new_value = new[index] if index < len(new) else None
            if old_value != new_value:
                label = names[index] if index < len(names) else f"field {index + 1}"
                if label not in changed:
                    changed.append(label)
    return changed


def secret_changes(kind: str, before: str, after: str) -> list[str]:
    """"+ alice", "- bob", "~ carol (password changed)": names, never values.

    `kind` is passwd, shadow, group or gshadow, or a path naming one;
    any other file gets a single line saying only whether it changed.
    """
    resolved = colon_kind(kind)
    if resolved is None:
        return [] if before == after else [f"~ {posixpath.basename(kind)} (content changed, not shown)"]
    old, new = _entries(before), _entries(after)
    lines = [f"+ {name}" for name in new if name not in old]
    lines += [f"- {name}" for name in old if name not in new]
    for name in old:
        if name in new and old[name] != new[name]:
            lines.append(f"~ {name} ({', '.join(_changed_fields(resolved, old[name], new[name]))} changed)")
    if not lines and before != after:
        lines.append("~ (layout changed: blank lines or line endings)")
    return lines


def show_change(path: str, before: str, after: str) -> str:
    """What to print for an edit of path: a diff, or names for secrets."""
    if is_secret(path):
        return "".join(line + "\n" for line in secret_changes(path, before, after))
    return unified(path, before, after)
