"""User accounts: parse passwd/shadow/group/gshadow and plan the C3 merge.

The seed merged old's users into new by eye.  Here the merge is a rule
(runbook C3): old's users inside the UID range that new lacks are carried
over with their passwd, shadow and primary group lines; new's own entries
(build accounts such as ``chikuwa*``) are never replaced; a name or ID
that means different things on the two machines stops the merge.

How the files are read, as the tools that own them read them:

* glibc (nss_files) skips blank lines and lines whose first non-blank is
  ``#``; so does this parser.  shadow-utils keeps them verbatim; so does
  every edit here.
* Lines starting with ``+`` or ``-`` are NIS compat entries (``+``,
  ``+user``, ``-user``, ``+@netgroup``...).  They are not local accounts,
  and shadow-utils keeps them last: useradd inserts a new entry before the
  first of them (commonio's KEEP_NIS_AT_END).  apply() does the same.
* A name with blanks before it is read as the name by glibc but as a
  different, invalid name by shadow-utils: such a line is refused.
* A file without a final newline keeps its last line as it is, unless a
  line must follow it (then it gets the newline useradd would write).

Secrets: shadow and gshadow hold password hashes, and so may passwd's and
group's password fields (legacy files without shadow).  Entries keep every
password field out of ``repr``, parse errors quote no content of those
files, and a plan prints names, IDs and group names only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import EditError, ensure_final_newline, line_body, split_lines_keepends

SECRET_KINDS = frozenset({"shadow", "gshadow"})
FIELD_COUNTS = {"passwd": 7, "shadow": 9, "group": 4, "gshadow": 4}


class MalformedLine(EditError):
    """A line that does not have the shape of its file."""


class MergeConflict(EditError):
    """The two machines disagree about a name or an ID; merging would lie."""


class OrphanShadow(EditError):
    """old has shadow entries without passwd entries: nothing safe to carry."""


@dataclass(frozen=True)
class PasswdEntry:
    """One /etc/passwd line; the password field (a legacy hash, maybe) never shows in repr."""

    name: str
    password: str = field(repr=False)
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str
    line: str = field(repr=False, compare=False)


@dataclass(frozen=True)
class ShadowEntry:
    """One /etc/shadow line; the hash never shows in repr."""

    name: str
    password: str = field(repr=False)
    rest: tuple[str, ...] = field(repr=False)
    line: str = field(repr=False, compare=False)


@dataclass(frozen=True)
class GroupEntry:
    """One /etc/group line; the password field never shows in repr."""

    name: str
    password: str = field(repr=False)
    gid: int
    members: tuple[str, ...]
    line: str = field(repr=False, compare=False)


@dataclass(frozen=True)
class GshadowEntry:
    """One /etc/gshadow line; the hash never shows in repr."""

    name: str
    password: str = field(repr=False)
    admins: tuple[str, ...]
    members: tuple[str, ...]
    line: str = field(repr=False, compare=False)


# ---- parsing -------------------------------------------------------------


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item for item in value.split(",") if item)


def _parse_id(kind: str, number: int, name: str, label: str, value: str) -> int:
    if not value.isdigit() or not value.isascii():
        who = "" if kind in SECRET_KINDS else f" ({name})"
        raise MalformedLine(f"{kind} line {number}{who}: {label} is not a number")
    return int(value)


def is_compat(content: str) -> bool:
    """A NIS compat line (+, -, +user, -@netgroup...): commonio's name_is_nis()."""
    return content[:1] in ("+", "-")


def is_skipped(content: str) -> bool:
    """Blank, or a comment: glibc's nss_files reads past both."""
    stripped = content.lstrip(" \t\n\v\f\r")
    return not stripped or stripped.startswith("#")


def _fields(kind: str, text: str):
    """Yield (line number, raw line, fields) for each account line of a file.

    Blank lines, comments and NIS compat lines are skipped (kept in the text).
    """
    for number, raw in enumerate(split_lines_keepends(text), start=1):
        content, _ = line_body(raw)
        if is_skipped(content) or is_compat(content):
            continue
        if content[0] in " \t":
            raise MalformedLine(f"{kind} line {number}: begins with blanks (glibc would read the name without them, "
                                f"shadow-utils with them); fix the line first")
        fields = content.split(":")
        if len(fields) != FIELD_COUNTS[kind]:
            raise MalformedLine(
                f"{kind} line {number}: expected {FIELD_COUNTS[kind]} colon-separated fields, found {len(fields)}"
            )
        if not fields[0]:
            raise MalformedLine(f"{kind} line {number}: empty name")
        yield number, content, fields


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of /etc/passwd, in file order."""
    entries = []
    for number, line, f in _fields("passwd", text):
        uid = _parse_id("passwd", number, f[0], "UID", f[2])
        gid = _parse_id("passwd", number, f[0], "GID", f[3])
        entries.append(PasswdEntry(f[0], f[1], uid, gid, f[4], f[5], f[6], line))
    return entries


def parse_shadow(text: str) -> list[ShadowEntry]:
    """Entries of /etc/shadow; errors give the line number, never content."""
    return [ShadowEntry(f[0], f[1], tuple(f[2:]), line) for _, line, f in _fields("shadow", text)]


def parse_group(text: str) -> list[GroupEntry]:
    """Entries of /etc/group, in file order."""
    entries = []
    for number, line, f in _fields("group", text):
        gid = _parse_id("group", number, f[0], "GID", f[2])
        entries.append(GroupEntry(f[0], f[1], gid, _split_list(f[3]), line))
    return entries


def parse_gshadow(text: str) -> list[GshadowEntry]:
    """Entries of /etc/gshadow; errors give the line number, never content."""
    return [
        GshadowEntry(f[0], f[1], _split_list(f[2]), _split_list(f[3]), line)
        for _, line, f in _fields("gshadow", text)
    ]


def _first_by(entries, key):
    """Index entries by key; the first one wins, as in getpwnam()."""
    index = {}
    for entry in entries:
        index.setdefault(key(entry), entry)
    return index


@dataclass
class Accounts:
    """The four account files of one machine, parsed, plus their texts."""

    passwd: list[PasswdEntry]
    shadow: list[ShadowEntry]
    group: list[GroupEntry]
    gshadow: list[GshadowEntry]
    passwd_text: str = field(repr=False)
    shadow_text: str = field(repr=False)
    group_text: str = field(repr=False)
    gshadow_text: str = field(repr=False)

    @classmethod
    def parse(cls, passwd_text: str, shadow_text: str, group_text: str, gshadow_text: str = "") -> "Accounts":
        return cls(
            parse_passwd(passwd_text),
            parse_shadow(shadow_text),
            parse_group(group_text),
            parse_gshadow(gshadow_text),
            passwd_text,
            shadow_text,
            group_text,
            gshadow_text,
        )

    def texts(self) -> tuple[str, str, str, str]:
        return self.passwd_text, self.shadow_text, self.group_text, self.gshadow_text

    def user(self, name: str) -> PasswdEntry | None:
        return _first_by(self.passwd, lambda e: e.name).get(name)

    def user_by_uid(self, uid: int) -> PasswdEntry | None:
        return _first_by(self.passwd, lambda e: e.uid).get(uid)

    def shadow_of(self, name: str) -> ShadowEntry | None:
        return _first_by(self.shadow, lambda e: e.name).get(name)

    def group_named(self, name: str) -> GroupEntry | None:
        return _first_by(self.group, lambda e: e.name).get(name)

    def group_by_gid(self, gid: int) -> GroupEntry | None:
        return _first_by(self.group, lambda e: e.gid).get(gid)

    def gshadow_of(self, name: str) -> GshadowEntry | None:
        return _first_by(self.gshadow, lambda e: e.name).get(name)


# ---- the plan ------------------------------------------------------------


@dataclass(frozen=True)
class CarriedUser:
    """A user to append to new: old's lines, verbatim (hash not in repr)."""

    name: str
    uid: int
    gid: int
    group: str | None
    passwd_line: str = field(repr=False)
    shadow_line: str | None = field(repr=False)


@dataclass(frozen=True)
class CarriedGroup:
    """A primary group to append to new (gshadow line not in repr)."""

    name: str
    gid: int
    group_line: str = field(repr=False)
    gshadow_line: str | None = field(repr=False)


@dataclass(frozen=True)
class Membership:
    """Add user to new's existing group of this name (as old had it)."""

    group: str
    user: str


@dataclass
class MergePlan:
    """What C3 would do; printable (describe) without any hash."""

    uid_min: int
    uid_max: int
    users: list[CarriedUser] = field(default_factory=list)
    groups: list[CarriedGroup] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Nothing to write (conflicts aside)."""
        return not (self.users or self.groups or self.memberships)

    def describe(self) -> list[str]:
        """Lines for the operator: names, IDs and groups, never hashes."""
        lines = [f"users with UID {self.uid_min}-{self.uid_max} on old:"]
        for user in self.users:
            group = user.group if user.group is not None else f"gid {user.gid}"
            joins = [m.group for m in self.memberships if m.user == user.name]
            extra = f"; also in {', '.join(joins)}" if joins else ""
            lines.append(f"  add {user.name} (uid {user.uid}, group {group}){extra}")
        for group in self.groups:
            lines.append(f"  add group {group.name} (gid {group.gid})")
        carried = {user.name for user in self.users}
        for membership in self.memberships:
            if membership.user not in carried:
                lines.append(f"  add {membership.user} to group {membership.group}")
        lines.extend(f"  skip {entry}" for entry in self.skipped)
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.extend(f"  CONFLICT: {conflict}" for conflict in self.conflicts)
        if self.is_empty and not self.conflicts:
            lines.append("  nothing to add")
        return lines

    def apply(self, new: Accounts) -> tuple[str, str, str, str]:
        """New's four texts with the plan applied.

        Existing lines stay byte for byte (apart from group lines that gain
        a member); new lines go where useradd puts them: before the first
        NIS compat line, else at the end.  Refuses a plan with conflicts,
        and a plan that no longer fits new (new changed since planning).
        """
        if self.conflicts:
            raise MergeConflict(f"{len(self.conflicts)} conflict(s), nothing merged: " + "; ".join(self.conflicts))
        if self.is_empty:
            return new.texts()
        self._check_still_fits(new)
        passwd = _append(new.passwd_text, [u.passwd_line for u in self.users])
        shadow = _append(new.shadow_text, [u.shadow_line for u in self.users if u.shadow_line is not None])
        group_text = _add_members(new.group_text, self.memberships, member_field=3)
        gshadow_text = _add_members(new.gshadow_text, self.memberships, member_field=3)
        group_text = _append(group_text, [g.group_line for g in self.groups])
        gshadow_text = _append(gshadow_text, [g.gshadow_line for g in self.groups if g.gshadow_line is not None])
        return passwd, shadow, group_text, gshadow_text

    def _check_still_fits(self, new: Accounts) -> None:
        stale = [u.name for u in self.users if new.user(u.name) or new.user_by_uid(u.uid) or new.shadow_of(u.name)]
        stale += [g.name for g in self.groups if new.group_named(g.name) or new.group_by_gid(g.gid)]
        stale += [m.group for m in self.memberships if new.group_named(m.group) is None]
        if stale:
            raise MergeConflict("new changed since the plan was made (" + ", ".join(stale) + "); plan again")


def _append(text: str, lines: list[str]) -> str:
    """Insert lines before the first NIS compat line (commonio's add_one_entry_nis), else at the end."""
    if not lines:
        return text
    existing = split_lines_keepends(text)
    for index, raw in enumerate(existing):
        if is_compat(line_body(raw)[0]):
            ending = line_body(existing[index - 1])[1] if index else line_body(raw)[1]
            added = "".join(line + (ending or "\n") for line in lines)
            return "".join(existing[:index]) + added + "".join(existing[index:])
    return ensure_final_newline(text) + "".join(line + "\n" for line in lines)


def _add_members(text: str, memberships: list[Membership], member_field: int) -> str:
    """Append users to the member list of named groups, first line per name."""
    wanted: dict[str, list[str]] = {}
    for membership in memberships:
        wanted.setdefault(membership.group, []).append(membership.user)
    lines = split_lines_keepends(text)
    seen = set()
    for index, raw in enumerate(lines):
        content, ending = line_body(raw)
        if is_skipped(content) or is_compat(content):
            continue
        fields = content.split(":")
        name = fields[0]
        if name not in wanted or name in seen or len(fields) <= member_field:
            continue
        seen.add(name)
        members = _split_list(fields[member_field])
        additions = [user for user in wanted[name] if user not in members]
        if additions:
            fields[member_field] = ",".join(members + tuple(additions))
            lines[index] = ":".join(fields) + ending
    return "".join(lines)


# ---- planning ------------------------------------------------------------


def _check_orphans(old: Accounts) -> None:
    """A shadow entry without a passwd entry is an account nobody can use."""
    names = {entry.name for entry in old.passwd}
    orphans = [entry.name for entry in old.shadow if entry.name not in names]
    if orphans:
        raise OrphanShadow(
            "old's shadow has entries without a passwd entry: " + ", ".join(orphans) + " (fix old's files first)"
        )


def _plan_user(plan: MergePlan, old: Accounts, new: Accounts, user: PasswdEntry) -> bool:
    """Classify one old user; True when it is to be carried."""
    on_new = new.user(user.name)
    if on_new is not None:
        if on_new.uid == user.uid:
            plan.skipped.append(f"{user.name} (uid {user.uid}): already on new")
        else:
            plan.conflicts.append(f"user {user.name}: uid {user.uid} on old, uid {on_new.uid} on new")
        return False
    holder = new.user_by_uid(user.uid)
    if holder is not None:
        plan.conflicts.append(f"uid {user.uid}: {user.name} on old, {holder.name} on new")
        return False
    if new.shadow_of(user.name) is not None:
        plan.conflicts.append(f"user {user.name}: new has a shadow entry but no passwd entry")
        return False
    return True


def _plan_primary_group(plan: MergePlan, old: Accounts, new: Accounts, user: PasswdEntry) -> str | None:
    """Carry the user's primary group when new lacks it; its name or None."""
    group = old.group_by_gid(user.gid)
    if group is None:
        plan.notes.append(f"{user.name}: primary gid {user.gid} has no group on old")
        return None
    if any(carried.name == group.name for carried in plan.groups):
        return group.name
    on_new = new.group_named(group.name)
    if on_new is not None:
        if on_new.gid != group.gid:
            plan.conflicts.append(f"group {group.name}: gid {group.gid} on old, gid {on_new.gid} on new")
        return group.name
    holder = new.group_by_gid(group.gid)
    if holder is not None:
        plan.conflicts.append(f"gid {group.gid}: group {group.name} on old, {holder.name} on new")
        return group.name
    plan.groups.append(_carried_group(plan, old, new, group))
    return group.name


def _carried_group(plan: MergePlan, old: Accounts, new: Accounts, group: GroupEntry) -> CarriedGroup:
    """old's lines; a group without a gshadow line on old gets one on new, as grpconv makes it."""
    gshadow = old.gshadow_of(group.name)
    if gshadow is not None or not new.gshadow:
        return CarriedGroup(group.name, group.gid, group.line, gshadow.line if gshadow else None)
    fields = group.line.split(":")
    shadow_line = f"{group.name}:{fields[1]}::{fields[3]}"
    fields[1] = "x"
    plan.notes.append(f"group {group.name}: no gshadow entry on old; its password field moves to gshadow (as grpconv does)")
    return CarriedGroup(group.name, group.gid, ":".join(fields), shadow_line)


def _carried_user(plan: MergePlan, old: Accounts, new: Accounts, user: PasswdEntry, group: str | None) -> CarriedUser:
    """old's lines; a legacy user (hash in passwd, no shadow) gets a shadow line on new, as pwconv makes it,
    without aging (old had none): the hash leaves the world-readable passwd."""
    shadow = old.shadow_of(user.name)
    if shadow is not None or not new.shadow:
        return CarriedUser(user.name, user.uid, user.gid, group, user.line, shadow.line if shadow else None)
    fields = user.line.split(":")
    shadow_line = f"{user.name}:{fields[1]}:" + ":" * 6
    fields[1] = "x"
    plan.notes.append(f"{user.name}: no shadow entry on old; the password moves from passwd to shadow (as pwconv does)")
    return CarriedUser(user.name, user.uid, user.gid, group, ":".join(fields), shadow_line)


def _plan_memberships(plan: MergePlan, old: Accounts, new: Accounts, user: PasswdEntry) -> None:
    """Put the user into new's groups of the same name, as on old."""
    carried_groups = {group.name for group in plan.groups}
    for group in old.group:
        if user.name not in group.members or group.name in carried_groups:
            continue
        on_new = new.group_named(group.name)
        if on_new is None:
            plan.notes.append(f"{user.name}: group {group.name} is not on new, membership not carried")
        elif user.name not in on_new.members:
            plan.memberships.append(Membership(group.name, user.name))


def plan_merge(old: Accounts, new: Accounts, uid_min: int, uid_max: int) -> MergePlan:
    """Plan runbook C3: old's users in [uid_min, uid_max] that new lacks."""
    if uid_min > uid_max:
        raise EditError(f"empty UID range {uid_min}-{uid_max}")
    _check_orphans(old)
    plan = MergePlan(uid_min, uid_max)
    seen: set[str] = set()
    for user in old.passwd:
        if not uid_min <= user.uid <= uid_max or user.name in seen:
            continue
        seen.add(user.name)
        if not _plan_user(plan, old, new, user):
            continue
        shadow = old.shadow_of(user.name)
        if shadow is None and user.password == "x":
            plan.conflicts.append(f"user {user.name}: passwd says the password is in shadow, but old has no shadow entry")
            continue
        group = _plan_primary_group(plan, old, new, user)
        plan.users.append(_carried_user(plan, old, new, user, group))
        _plan_memberships(plan, old, new, user)
    return plan
