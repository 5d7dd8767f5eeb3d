"""sudoers for tests: a hypothesis grammar, a model of sudo's matching, and sudo's own tools as oracle.

* `trees()` draws whole include trees ({path: text} + listings) from
  sudoers' grammar: User/Runas/Host/Cmnd aliases (several on a line),
  user lists with blanks around commas, %group, #uid, quoted and escaped
  names, negations, Runas lists, options, tags, digests, regexes, every
  Defaults binding, continuations, comments, #include/@includedir, files
  sudo skips, no final newline.
* `view()` is what sudo grants one user, computed from fabfile's parser:
  for each rule whose user list matches (sudo's last-match-wins, aliases,
  #uid, %group), the (hosts, runas, options, tags, command) of each
  command with runas/options/tags carried over as gram.y does, and the
  Defaults that apply.
* `real_views()` asks sudo itself (the unpacked Debian package, in a
  private mount namespace): `visudo -c`, `sudo -l -U user` and
  `cvtsudoers -f sudoers -e -p -M -m user=...` (the user's rules, aliases
  expanded, other users pruned; its JSON writer mangles CWD=) for each user.
"""

from __future__ import annotations

import re
import shlex

from hypothesis import strategies as st

from fabfile.edit import sudoers

HOST = "testhost"
REMOVED = {"chikuwa1": 1500, "chikuwa2": 1501}
# name: (uid, groups); freshN stands for chikuwaN once gone (same groups, a UID nobody names)
PEOPLE = {
    "root": (0, ["root"]),
    "alice": (2001, ["adm"]),
    "bob": (2002, ["staff"]),
    "carol": (2003, []),
    "chikuwa10": (2010, []),
    "chikuwa1": (1500, []),
    "chikuwa2": (1501, ["staff"]),
    "fresh1": (4001, []),
    "fresh2": (4002, ["staff"]),
}
GROUPS = {"adm": 3001, "staff": 3002}
KEPT = ["root", "alice", "bob", "carol", "chikuwa10"]
STAND_IN = {"chikuwa1": "fresh1", "chikuwa2": "fresh2"}

# ---- the grammar -----------------------------------------------------------

_sep = st.sampled_from([",", ", ", " , ", " ,", ",\t", ", \\\n    ", " ,\\\n"])
# In a Defaults binding a blank ends the list (toke.l's GOTDEFS): no blank after '!' or a continuation
_defaults_sep = st.sampled_from([",", ", ", " , ", " ,", ",\\\n"])
_name = st.sampled_from([
    "alice", "bob", "carol", "chikuwa10", "root", "chikuwa1", "chikuwa2", '"chikuwa1"', "chik\\uwa1",
    "chikuwa\\x32", "#1500", "#1501", "#2001", '"alice"', "%adm", "%staff", '"%adm"', "%#3002", "+buildhosts",
])
_bang = st.sampled_from(["", "", "", "!", "!!", "! ", "!!!"])
_host = st.sampled_from(["ALL", HOST, "otherhost", "192.0.2.1", "10.0.0.0/8", "!otherhost", "HA0"])
_runas_user = st.sampled_from(["root", "alice", "ALL", "%adm", "#0", "RA0", "!bob"])
_runas_group = st.sampled_from(["adm", "ALL", "staff"])
_tag = st.sampled_from([t + ":" for t in sudoers.TAGS] + ["NOPASSWD :", "SETENV:"])
_option = st.sampled_from(["TIMEOUT=5m", "CWD=/tmp", "CWD=*", "NOTBEFORE=20200101000000Z", "CHROOT=/"])
_command = st.sampled_from([
    "ALL", "/bin/ls", "/bin/ls -l", "/usr/bin/echo a\\, b", "/usr/bin/id \"\"", "sudoedit /etc/hosts",
    "/usr/sbin/", "CA0", "list", "^/usr/bin/(who|id)$", "/usr/bin/grep ^x.*$", "!/bin/su",
    "sha224:" + "ab" * 28 + " /bin/true", "/usr/bin/printf %s\\\\n\\ x",
])
_param = st.sampled_from([
    "!lecture", "lecture", 'env_keep+="A B"', "env_keep -= C", "passwd_tries=3", "!requiretty",
    "timestamp_timeout=5", "env_reset", 'secure_path="/usr/bin:/bin"', "!!insults", "umask=022",
])
_comment = st.sampled_from(["", "", "", "  # note", "\t#chikuwa1 was here", " #"])


def _joined(draw, parts: list[str], sep=_sep) -> str:
    out = parts[0]
    for part in parts[1:]:
        out += draw(sep) + part
    return out


@st.composite
def user_list(draw, aliases: list[str], in_defaults: bool = False):
    pool = st.one_of(_name, st.sampled_from(aliases)) if aliases else _name
    bang = _bang.filter(lambda b: " " not in b) if in_defaults else _bang
    items = draw(st.lists(st.tuples(bang, pool), min_size=1, max_size=4))
    if draw(st.booleans()) and len(items) > 1:
        items[0] = ("", "ALL")
    return _joined(draw, [b + n for b, n in items], _defaults_sep if in_defaults else _sep)


@st.composite
def cmnd_spec(draw):
    runas = ""
    if draw(st.booleans()):
        users = draw(st.lists(_runas_user, max_size=2))
        groups = draw(st.lists(_runas_group, max_size=2))
        runas = "(" + ", ".join(users) + (" : " + ", ".join(groups) if groups else "") + ") "
        runas = "(:adm) " if runas == "() " and draw(st.booleans()) else runas
    options = "".join(o + " " for o in draw(st.lists(_option, max_size=2, unique=True)))
    tags = "".join(t + " " for t in draw(st.lists(_tag, max_size=2)))
    return runas + options + tags + draw(_command)


@st.composite
def rule(draw, aliases: list[str]):
    privileges = []
    for _ in range(draw(st.integers(1, 2))):
        hosts = draw(st.lists(_host, min_size=1, max_size=2))
        specs = draw(st.lists(cmnd_spec(), min_size=1, max_size=3))
        equals = draw(st.sampled_from(["=", " = ", " \\\n  = "]))
        privileges.append(", ".join(hosts) + equals + draw(st.sampled_from([", ", ",", " , "])).join(specs))
    return draw(user_list(aliases)) + draw(st.sampled_from([" ", "\t", " \\\n  "])) + " : ".join(privileges)


@st.composite
def defaults(draw, aliases: list[str]):
    binding = draw(st.sampled_from(["", ":", ">", "@", "!"]))
    bound = {
        "": "",
        ":": draw(user_list(aliases, in_defaults=True)),
        ">": ", ".join(draw(st.lists(st.sampled_from(["root", "alice", "chikuwa1", "#1501", "RA0"]), min_size=1, max_size=2))),
        "@": ", ".join(draw(st.lists(st.sampled_from([HOST, "otherhost", "HA0"]), min_size=1, max_size=2))),
        "!": ", ".join(draw(st.lists(st.sampled_from(["/bin/ls", "CA0", "sudoedit"]), min_size=1, max_size=2))),
    }[binding]
    params = ", ".join(draw(st.lists(_param, min_size=1, max_size=3)))
    return f"Defaults{binding}{bound}{draw(st.sampled_from([' ', chr(9), '   ']))}{params}"


@st.composite
def user_aliases(draw):
    """User_Alias lines; an alias names only aliases defined before it (no loops), several per line."""
    lines, names = [], []
    for line_number in range(draw(st.integers(0, 3))):
        definitions = []
        for _ in range(draw(st.integers(1, 2))):
            name = f"UA{len(names)}"
            definitions.append(f"{name} = {draw(user_list(list(names)))}")
            names.append(name)
        lines.append("User_Alias " + draw(st.sampled_from([" : ", ":", " :\\\n  "])).join(definitions))
    return lines, names


FIXED_ALIASES = [
    "Host_Alias HA0 = testhost, 192.0.2.0/24",
    "Runas_Alias RA0 = root, %adm : RA1 = alice",
    "Cmnd_Alias CA0 = /bin/ls, /usr/bin/id -u : CA1 = sudoedit /etc/motd",
]


@st.composite
def entries(draw):
    alias_lines, names = draw(user_aliases())
    body = draw(st.lists(st.one_of(rule(names), defaults(names)), min_size=1, max_size=6))
    filler = st.sampled_from(["", "# a comment", "#", "   ", "# chikuwa1 ALL=ALL (a comment)"])
    lines = [line + draw(_comment) for line in alias_lines + body] + FIXED_ALIASES
    lines += draw(st.lists(filler, max_size=2))
    return draw(st.permutations(lines))


@st.composite
def trees(draw, stock: dict[str, str] | None = None):
    """({path: text}, {directory: names}) of a tree from /etc/sudoers; stock = Debian's two files, when given."""
    lines = draw(entries())
    cut = sorted(draw(st.lists(st.integers(0, len(lines)), min_size=2, max_size=2)))
    parts = [lines[:cut[0]], lines[cut[0]:cut[1]], lines[cut[1]:]]
    files = {}
    main = (stock or {}).get("/etc/sudoers", "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n")
    main = main.replace("@includedir /etc/sudoers.d\n", "")  # Debian's last line, drawn again below
    main += "".join(line + "\n" for line in parts[0])
    main += draw(st.sampled_from(["@includedir /etc/sudoers.d\n", "#includedir /etc/sudoers.d\n"]))
    main += "@include sudoers.local\n" if draw(st.booleans()) else '#include "/etc/sudoers.local"\n'
    files["/etc/sudoers"] = main
    files["/etc/sudoers.local"] = "\n".join(parts[1]) + draw(st.sampled_from(["\n", ""]))
    files["/etc/sudoers.d/50-build"] = "".join(line + "\n" for line in parts[2])
    files["/etc/sudoers.d/README"] = (stock or {}).get("/etc/sudoers.d/README", "# sudo skips nothing here\n")
    skipped = "chikuwa1 ALL=(ALL) NOPASSWD: ALL\n"
    files["/etc/sudoers.d/50-build~"] = skipped
    files["/etc/sudoers.d/old.dpkg-old"] = skipped
    return files, {"/etc/sudoers.d": ["README", "50-build", "50-build~", "old.dpkg-old"]}


# ---- the model: what sudo grants one user ------------------------------------


def _user_aliases(tree):
    return {d.name: d for _, e in tree.order if e.kind == "alias" and e.alias_type == "User" for d in e.aliases}


def user_matches(item, name: str, tree, aliases, seen=()):
    """user_matches() of match.c: True (allow), False (deny) or None."""
    uid, groups = PEOPLE[name]
    value, result = str(item.value), None
    if item.kind == "ALL":
        result = True
    elif item.kind == "USERGROUP":
        group = value[1:]
        result = True if (group in groups or (group.startswith("#") and any(
            str(GROUPS.get(g)) == group[1:] for g in groups))) else None
    elif item.kind == "ALIAS" and item.value in aliases and item.value not in seen:
        inner = list_matches(aliases[item.value].items, name, tree, aliases, seen + (item.value,))
        return None if inner is None else (not inner if item.negated else inner)
    elif item.kind in ("WORD", "ALIAS"):
        by_uid = value.startswith("#") and value[1:].lstrip("-").isdigit() and int(value[1:]) % 2**32 == uid
        result = True if by_uid or value.lower() == name.lower() else None
    if result is None:
        return None
    return not item.negated


def list_matches(items, name, tree, aliases, seen=()):
    """userlist_matches(): the last member that says something decides."""
    for item in reversed(items):
        result = user_matches(item, name, tree, aliases, seen)
        if result is not None:
            return result
    return None


def _items(items):
    return None if items is None else tuple((i.negated, i.kind, str(i.value)) for i in items)


def _commands(privilege):
    """Each command with the runas, options and tags gram.y carries over from the one before it."""
    runas, options, tags = (None, None), {}, {}
    for spec in privilege.commands:
        if spec.runas_given:
            runas = (_items(spec.runas_users), _items(spec.runas_groups))
        options = {**options, **dict(spec.options)}
        for tag in spec.tags:
            key = tag[2:] if tag.startswith("NO") else tag
            tags[key] = not tag.startswith("NO")
        command = (spec.command.negated, spec.command.kind, str(spec.command.value), spec.command.digests)
        yield (_items(privilege.hosts), runas, tuple(sorted(options.items())), tuple(sorted(tags.items())), command)


def view(files, listings, name: str, removed=()) -> dict:
    """What sudo grants `name`: rules (in order) and Defaults, computed from fabfile's parser."""
    tree = sudoers.load_tree(files, listings)
    aliases = _user_aliases(tree)
    rules, settings = [], []
    for _, entry in tree.order:
        if entry.kind == "rule" and list_matches(entry.users, name, tree, aliases):
            rules.extend(c for p in entry.privileges for c in _commands(p))
        elif entry.kind == "defaults" and entry.binding in ("", "@", "!"):
            settings.append((entry.binding, _items(entry.users), entry.params))
        elif entry.kind == "defaults" and entry.binding == ":" and list_matches(entry.users, name, tree, aliases):
            settings.append((":", entry.params))
        elif entry.kind == "defaults" and entry.binding == ">":
            targets = [i for i in entry.users if str(i.value) not in removed and str(i.value) not in
                       {f"#{uid}" for r, uid in REMOVED.items() if r in removed}]
            settings.extend((">", (i.negated, i.kind, str(i.value)), entry.params) for i in targets)
    return {"rules": rules, "defaults": settings}


def mentions(files, listings, names) -> list[str]:
    """Items that still name a removed user in a user position (rule, User_Alias, Defaults: and >)."""
    tree = sudoers.load_tree(files, listings)
    uids = {f"#{REMOVED[n]}" for n in names}
    found = []
    for path, entry in tree.order:
        lists = [entry.users] if entry.kind in ("rule", "defaults") and entry.binding in ("", ":", ">") else []
        lists += [d.items for d in entry.aliases] if entry.kind == "alias" and entry.alias_type in ("User", "Runas") else []
        for items in lists:
            found += [f"{path}:{entry.line}:{i.value}" for i in items if str(i.value) in names or str(i.value) in uids]
    return found


# ---- sudo's own view ------------------------------------------------------------


def etc_files(tree_dir, files) -> dict[str, str]:
    """The test's /etc: the sudoers tree, sudo.conf pointing at the unpacked plugin, the test's people."""
    plugin = f"{tree_dir}/usr/libexec/sudo/sudoers.so"
    conf = "".join(f"Plugin {p} {plugin}\n" for p in ("sudoers_policy", "sudoers_io", "sudoers_audit"))
    passwd = "".join(f"{n}:x:{uid}:{uid}::/nonexistent:/bin/sh\n" for n, (uid, _) in PEOPLE.items() if n != "root")
    group = "".join(f"{g}:x:{gid}:{','.join(n for n, (_, gs) in PEOPLE.items() if g in gs)}\n" for g, gid in GROUPS.items())
    base_passwd = "root:x:0:0:root:/root:/bin/bash\n"
    return {**files, "/etc/sudo.conf": conf, "/etc/passwd": base_passwd + passwd, "/etc/hosts": f"127.0.1.1 {HOST}\n",
            "/etc/group": "root:x:0:\n" + group + "".join(f"{n}:x:{uid}:\n" for n, (uid, _) in PEOPLE.items() if n != "root")}


def real_views(tree_dir, files, names, check_each=()) -> dict:
    """{"visudo": (rc, output), "each": [(rc, output)], name: {"sudo": text, "cvtsudoers": text}} from sudo 1.9."""
    from tests.debfiles import with_etc

    lib = f"{tree_dir}/usr/libexec/sudo"
    lines = [f"export LD_LIBRARY_PATH={lib}", f"echo @@visudo; {tree_dir}/usr/sbin/visudo -c 2>&1; echo \"@@rc $?\""]
    for path in check_each:
        lines.append(f"echo @@each; {tree_dir}/usr/sbin/visudo -cf {shlex.quote(path)} 2>&1; echo \"@@rc $?\"")
    for name in names:
        lines.append(f"echo @@sudo {name}; {tree_dir}/usr/bin/sudo -l -U {name} 2>&1")
        lines.append(f"echo @@cvt {name}; {tree_dir}/usr/bin/cvtsudoers -f sudoers -e -p -M -m user={name} /etc/sudoers 2>&1")
    result = with_etc(etc_files(tree_dir, files), ["sh", "-c", "\n".join(lines)], hostname=HOST)
    return _split_views(result.stdout + result.stderr)


def without_runas_defaults_of(listing: str, removed) -> str:
    """`sudo -l` output with the removed users taken out of its "Defaults>..." lines.

    A Defaults for commands run as a removed user is the one thing every
    user's listing legitimately loses; the rest must stay identical.
    """
    gone = set(removed) | {f"#{REMOVED[name]}" for name in removed}
    out = []
    for line in listing.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        pieces, kept_pieces = re.split(r"\s{2,}(?=Defaults)", line.strip()), []
        for piece in pieces:  # sudo -l puts several command-specific Defaults on one line
            match = re.match(r"Defaults>((?:[^ ,]+, ?)*[^ ,]+) (.*)$", piece)
            if match:
                kept = [b.strip() for b in match[1].split(",") if b.strip() not in gone]
                if not kept:
                    continue
                piece = "Defaults>" + ", ".join(kept) + " " + match[2]
            kept_pieces.append(piece)
        if kept_pieces:
            out.append(indent + "    ".join(kept_pieces))
    for i in range(len(out) - 1, -1, -1):  # a section left without lines goes, with its blank line
        if out[i].startswith("Runas and Command-specific defaults") and (i + 1 == len(out) or not out[i + 1].strip()):
            del out[i:i + 2]
    return "\n".join(out)


def _split_views(output: str) -> dict:
    views, key, buffer = {"each": []}, None, []

    def flush():
        if key is None:
            return
        text = "\n".join(buffer)
        if key[0] in ("visudo", "each"):
            rc = int(text.rsplit("@@rc ", 1)[1].strip()) if "@@rc " in text else -1
            entry = (rc, text.rsplit("@@rc ", 1)[0])
            views["each"].append(entry) if key[0] == "each" else views.__setitem__("visudo", entry)
        elif key[0] == "cvt":
            views.setdefault(key[1], {})["cvtsudoers"] = text
        else:
            views.setdefault(key[1], {})["sudo"] = text

    for line in output.splitlines():
        if line.startswith("@@") and not line.startswith("@@rc"):
            flush()
            parts = line[2:].split()
            key, buffer = (parts[0], parts[1] if len(parts) > 1 else None), []
        else:
            buffer.append(line)
    flush()
    return views
