"""sudoers: take a removed user out (runbook A3, build accounts chikuwa*).

After ``userdel`` a sudoers rule for the name would silently apply to the
next account that gets it.  The editor drops the user's own rules and
Defaults, and takes the name out of User_Alias lists.  Anything it does
not understand is left alone; the host layer runs ``visudo -cf`` on the
result before installing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import EditError, line_body, split_lines_keepends

_USER = re.compile(r"^[^\s,:=#!%\\()\"'][^\s,:=#!\\()\"']*$")
_ALIAS_DEF = re.compile(r"^\s*(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?P<members>.*?)\s*$")


@dataclass
class LogicalLine:
    """Physical lines joined by trailing backslashes, as sudo reads them."""

    physical: list[str]

    @property
    def joined(self) -> str:
        parts = [line_body(line)[0] for line in self.physical]
        return " ".join(part[:-1] if part.endswith("\\") else part for part in parts)

    @property
    def ending(self) -> str:
        return line_body(self.physical[-1])[1] or "\n"


def _logical_lines(text: str) -> list[LogicalLine]:
    logical, current = [], []
    for line in split_lines_keepends(text):
        current.append(line)
        if not line_body(line)[0].endswith("\\"):
            logical.append(LogicalLine(current))
            current = []
    if current:
        logical.append(LogicalLine(current))
    return logical


def _is_comment(joined: str) -> bool:
    """'#' starts a comment, except #include/#includedir and #UID specs."""
    stripped = joined.lstrip()
    if not stripped.startswith("#"):
        return False
    return not (stripped.startswith("#include") or re.match(r"#\d", stripped))


def _without(members: list[str], user: str) -> list[str]:
    return [member for member in members if member != user]


def _replace_first_field(line: LogicalLine, new_field: str) -> list[str]:
    """Swap the first field of the first physical line, keep the rest."""
    first = line.physical[0]
    match = re.match(r"^(\s*)(\S+)", first)
    return [match.group(1) + new_field + first[match.end():]] + line.physical[1:]


def _user_list_line(line: LogicalLine, field: str, prefix: str, user: str) -> list[str]:
    """A rule or Defaults whose first field lists users: drop or shrink it."""
    members = field[len(prefix):].split(",")
    if user not in members:
        return line.physical
    rest = _without(members, user)
    if not rest:
        return []
    return _replace_first_field(line, prefix + ",".join(rest))


def _user_alias_line(line: LogicalLine, user: str) -> list[str]:
    """Take the user out of every definition on a User_Alias line."""
    body = line.joined.strip()[len("User_Alias"):]
    definitions = [_ALIAS_DEF.match(part) for part in body.split(":")]
    if any(d is None for d in definitions):
        return line.physical
    parsed = [(d["name"], [m.strip() for m in d["members"].split(",") if m.strip()]) for d in definitions]
    if not any(user in members for _, members in parsed):
        return line.physical
    kept = [(name, _without(members, user)) for name, members in parsed]
    nonempty = [(name, members) for name, members in kept if members]
    if not nonempty:
        note = f"# serverswap: {user} removed; User_Alias left without members, commented out{line.ending}"
        return [note, f"# {line.joined.strip()}{line.ending}"]
    indent = re.match(r"^\s*", line.physical[0]).group()
    definitions_text = " : ".join(f"{name} = {', '.join(members)}" for name, members in nonempty)
    return [f"{indent}User_Alias {definitions_text}{line.ending}"]


def _edit_line(line: LogicalLine, user: str) -> list[str]:
    joined = line.joined
    if not joined.strip() or _is_comment(joined) or joined.lstrip().startswith("@include"):
        return line.physical
    first = joined.split()[0]
    if first == "User_Alias":
        return _user_alias_line(line, user)
    if first.startswith("Defaults:"):
        return _user_list_line(line, first, "Defaults:", user)
    if first.startswith("Defaults") or first.endswith("_Alias") or first.endswith(","):
        return line.physical  # other Defaults, other aliases, "a, b" lists: not ours
    return _user_list_line(line, first, "", user)


def remove_user(text: str, user: str) -> str:
    """sudoers text without the user's rules, Defaults and alias memberships."""
    if not _USER.match(user or ""):
        raise EditError(f"not a user name for sudoers: {user!r}")
    return "".join(out for line in _logical_lines(text) for out in _edit_line(line, user))
