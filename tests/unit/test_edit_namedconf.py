"""named.conf: BIND's grammar, includes resolved as named resolves them, zones and views.

The real checks run Debian's named-checkconf (bind9-utils, unpacked) with
`-t ROOT` on Debian's own /etc/bind tree plus zones we add: its `-l` zone
list must equal ours, and `-z` must load every zone from the file where our
model says named opens it (the files exist nowhere else).
"""

from __future__ import annotations

import glob as globmod
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit import namedconf as N
from fabfile.edit import zone as Z
from tests.debfiles import bind_tools, program
from zone_samples import NAMED_CONF  # noqa: E402



# ---- moved from ops/zones.py (test_phase0) -----------------------------------------


def test_zone_name_from_named_conf_relative_absolute_and_comments():
    assert N.zones_in_named_conf(NAMED_CONF) == {
        "localhost.zone": "scitec.kobe-u.ac.jp",
        "/usr/local/bind/etc/namedb/localhost.rev": "109.30.133.in-addr.arpa",
    }
    assert N.zone_name_from_named_conf(NAMED_CONF, "/usr/local/bind/etc/namedb/localhost.zone") == "scitec.kobe-u.ac.jp"
    assert N.zone_name_from_named_conf(NAMED_CONF, "/usr/local/bind/etc/namedb/localhost.rev") == "109.30.133.in-addr.arpa"
    assert N.zone_name_from_named_conf(NAMED_CONF, "/elsewhere/other.zone") is None
    assert N.named_conf_directory(NAMED_CONF) == "/usr/local/bind/etc/namedb"


# ---- grammar ----------------------------------------------------------------------------


def test_comments_strings_and_blocks():
    text = ('# shell\noptions { directory "/var/named" ; /* multi\nline */ };\n'
            'zone "we\\"ird" IN { type primary; file "a b\n.db"; }; // c++\nzone example.org { type hint; file "h"; };\n')
    conf = N.parse(text)
    assert conf.directory == "/var/named" and conf.cwd == "/var/named"
    assert [(z.name, z.rclass, z.type, z.file, z.path) for z in conf.zones] == [
        ('we"ird', "IN", "primary", "a b\n.db", "/var/named/a b\n.db"), ("example.org", "IN", "hint", "h", "/var/named/h")]


@pytest.mark.parametrize("text, message", [
    ("options { directory \"/x\"; }", "never ends"),
    ("options { directory \"/x\" };", "missing ';'"),
    ("zone \"a\" { type master; };\n};", "without"),
    ("/* open", "never closed"),
    ('zone "a', "never closed"),
    ('include /etc/x;', "include must be"),
])
def test_refuses_what_named_rejects_with_one_line(text, message):
    with pytest.raises(EditError, match=message) as info:
        N.parse(text, "/etc/bind/named.conf")
    assert "/etc/bind/named.conf" in str(info.value) and "\n" not in str(info.value)


def test_includes_follow_directory_as_named_chdirs():
    files = {
        "/etc/bind/named.conf": 'include "first.conf";\noptions { directory "/var/cache/bind"; };\ninclude "zones.conf";\n',
        "/first.conf": 'zone "a" { type master; file "a.db"; };\n',
        "/var/cache/bind/zones.conf": 'zone "b" { type master; file "/etc/bind/b.db"; };\n',
    }
    conf = N.parse(files["/etc/bind/named.conf"], read=files)
    assert [(z.name, z.path, z.source) for z in conf.zones] == [
        ("a", "/var/cache/bind/a.db", "/first.conf"), ("b", "/etc/bind/b.db", "/var/cache/bind/zones.conf")]
    assert [(i.written, i.paths) for i in conf.includes] == [("first.conf", ("/first.conf",)),
                                                             ("zones.conf", ("/var/cache/bind/zones.conf",))]
    assert len(conf.warnings) == 1 and "first.conf" in conf.warnings[0]


def test_glob_includes_sorted_and_a_missing_file_refused():
    files = {"/etc/bind/z/b.conf": 'zone "b" { type master; file "/b"; };', "/etc/bind/z/a.conf": 'zone "a" { type master; file "/a"; };',
             "/etc/bind/z/.hidden.conf": 'zone "h" { type master; file "/h"; };'}
    conf = N.parse('include "/etc/bind/z/*.conf";', read=files)
    assert [z.name for z in conf.zones] == ["a", "b"]
    with pytest.raises(EditError, match="matches no file"):
        N.parse('include "/etc/bind/y/*.conf";', read=files)
    with pytest.raises(EditError, match="cannot be read"):
        N.parse('include "/etc/bind/none.conf";', read=files)


def test_includes_listed_but_not_followed_without_read():
    conf = N.parse('include "/etc/bind/named.conf.local";\nzone "x" { type master; file "/x"; };')
    assert [(i.written, i.followed) for i in conf.includes] == [("/etc/bind/named.conf.local", False)]
    assert [z.name for z in conf.zones] == ["x"]


def test_views_and_zone_for_file():
    text = ('view "in" { zone "example" { type master; file "/z/example.in"; }; zone "other" { file "/z/shared"; }; };\n'
            'view out { zone "example" { type master; file "/z/example.in"; }; zone "third" { file "/z/shared"; }; };')
    conf = N.parse(text)
    assert [(z.name, z.view) for z in conf.zones] == [("example", "in"), ("other", "in"), ("example", "out"), ("third", "out")]
    assert conf.zone_for_file("/z/./example.in").name == "example"
    with pytest.raises(EditError, match=r"2 zones \(other, third\)"):
        conf.zone_for_file("/z/shared")
    assert conf.zone_for_file("/z/none") is None


def test_zone_name_uses_the_include_tree():
    files = {"/etc/bind/named.conf.local": 'zone "scitec.kobe-u.ac.jp" { type master; file "/etc/bind/db.site"; };'}
    conf = N.parse('options { directory "/var/cache/bind"; };\ninclude "/etc/bind/named.conf.local";', read=files)
    assert Z.zone_name("$TTL 1h\n@ SOA ns root 1 2 3 4 5\n", "/etc/bind/db.site", conf) == "scitec.kobe-u.ac.jp"


# ---- Debian's /etc/bind with named-checkconf ------------------------------------------------


@pytest.fixture(scope="module")
def bind():
    return bind_tools()


def reader(root: Path):
    def read(path: str):
        file = root / path.lstrip("/")
        return file.read_text() if file.is_file() else None
    return read


def globber(root: Path):
    return lambda pattern: ["/" + str(Path(p).relative_to(root)) for p in globmod.glob(str(root) + pattern)]


def checkconf(tree: Path, root: Path, flag: str, conf: str) -> subprocess.CompletedProcess:
    """named-checkconf FLAG -t ROOT CONF: chrooted into ROOT, so paths are the ones named would open."""
    return subprocess.run([*program(tree, "usr/bin/named-checkconf"), flag, "-t", str(root), conf],
                          capture_output=True, text=True)


def listed(tree: Path, root: Path, conf: str) -> list[tuple[str, str, str, str]]:
    result = checkconf(tree, root, "-l", conf)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    return [(name.rstrip(".") or ".", klass.upper(), view, kind) for name, klass, view, kind in rows]  # as ZoneDecl: no final dot


def ours(conf: N.NamedConf) -> list[tuple[str, str, str, str]]:
    return [(z.name, z.rclass, z.view or "_default", z.type) for z in conf.zones]


@pytest.fixture()
def debian_root(bind, tmp_path):
    """Debian's /etc/bind and root.hints under a scratch root, plus the lab's zones in a named.conf.local."""
    root = tmp_path / "root"
    shutil.copytree(bind / "etc/bind", root / "etc/bind")
    (root / "usr/share/dns").mkdir(parents=True)
    shutil.copy(bind / "usr/share/dns/root.hints", root / "usr/share/dns/root.hints")
    from lab import config, seed
    labroot = tmp_path / "lab"
    seed._dns(labroot, config.load())
    namedb = labroot / "usr/local/bind/etc/namedb"
    (root / "var/cache/bind/lab").mkdir(parents=True)
    (root / "etc/bind/lab").mkdir()
    shutil.copy(namedb / "localhost.zone", root / "var/cache/bind/lab/localhost.zone")  # only where named looks
    shutil.copy(namedb / "localhost.rev", root / "etc/bind/lab/localhost.rev")
    (root / "etc/bind/named.conf.local").write_text(
        (root / "etc/bind/named.conf.local").read_text()
        + '\nzone "scitec.kobe-u.ac.jp" { type master; file "lab/localhost.zone"; };  // relative: directory\n'
        + 'zone "0.18.198.in-addr.arpa" IN {\n\ttype primary;\n\tfile "/etc/bind/lab/localhost.rev";\n};\n'
        + 'include "extra/*.conf";  # relative, after `directory`\n')
    (root / "var/cache/bind/extra").mkdir()
    (root / "var/cache/bind/extra/rfc1918.conf").write_text('include "/etc/bind/zones.rfc1918";\n')
    return root


def test_debian_named_conf_tree_as_named_checkconf_sees_it(bind, debian_root):
    text = (debian_root / "etc/bind/named.conf").read_text()
    conf = N.parse(text, "/etc/bind/named.conf", read=reader(debian_root), glob=globber(debian_root))
    assert ours(conf) == listed(bind, debian_root, "/etc/bind/named.conf")
    assert conf.directory == "/var/cache/bind" and conf.warnings == []
    loaded = checkconf(bind, debian_root, "-z", "/etc/bind/named.conf")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "zone scitec.kobe-u.ac.jp/IN: loaded serial 2009102001" in loaded.stdout
    for z in conf.zones:
        assert (debian_root / z.path.lstrip("/")).is_file(), z
    site = conf.zone_for_file("/var/cache/bind/lab/localhost.zone")
    assert (site.name, site.file, site.source) == ("scitec.kobe-u.ac.jp", "lab/localhost.zone", "/etc/bind/named.conf.local")
    with pytest.raises(EditError, match=r"18 zones \(10.in-addr.arpa, 16.172.in-addr.arpa, 168.192.in-addr.arpa and 15 more"):
        conf.zone_for_file("/etc/bind/db.empty")  # Debian: "it is used for multiple zones"
    rev = (debian_root / "etc/bind/lab/localhost.rev").read_text()
    assert Z.zone_name(rev, "/etc/bind/lab/localhost.rev", conf) == "0.18.198.in-addr.arpa"


def test_views_as_named_checkconf_sees_them(bind, debian_root):
    (debian_root / "etc/bind/views.conf").write_text(
        'options { directory "/var/cache/bind"; };\n'
        'view "internal" IN {\n  match-clients { localhost; };\n  include "/etc/bind/named.conf.default-zones";\n'
        '  zone "scitec.kobe-u.ac.jp" { type master; file "lab/localhost.zone"; };\n};\n'
        'view external { zone "scitec.kobe-u.ac.jp" { type master; file "/etc/bind/db.empty"; }; };\n')
    conf = N.parse((debian_root / "etc/bind/views.conf").read_text(), "/etc/bind/views.conf", read=reader(debian_root))
    assert ours(conf) == listed(bind, debian_root, "/etc/bind/views.conf")
    assert checkconf(bind, debian_root, "-z", "/etc/bind/views.conf").returncode == 0
    assert [z.view for z in conf.zones_for_file("/var/cache/bind/lab/localhost.zone")] == ["internal"]


def test_include_before_directory_resolves_from_the_start_directory(bind, debian_root):
    (debian_root / "zones").mkdir()
    (debian_root / "zones/x.conf").write_text('zone "at-root.example" { type master; file "/etc/bind/db.empty"; };\n')
    (debian_root / "var/cache/bind/zones").mkdir()
    (debian_root / "var/cache/bind/zones/x.conf").write_text('zone "in-directory.example" { type master; file "/etc/bind/db.empty"; };\n')
    text = 'include "zones/x.conf";\noptions { directory "/var/cache/bind"; };\ninclude "zones/x.conf";\n'
    (debian_root / "etc/bind/order.conf").write_text(text)
    conf = N.parse(text, "/etc/bind/order.conf", read=reader(debian_root))
    assert [z.name for z in conf.zones] == ["at-root.example", "in-directory.example"]
    assert ours(conf) == listed(bind, debian_root, "/etc/bind/order.conf")


# ---- generated configurations ---------------------------------------------------------------


_COMMENTS = st.sampled_from(["", " // note { ; }", " # hash ;", " /* a ; } { */", "\n/* two\n lines */"])
_NAMES = st.sampled_from(["example.org", "Example.Net.", "10.in-addr.arpa", "a-b.example", "x.y.z"])


@st.composite
def zone_statement(draw):
    name = draw(_NAMES)
    quoted = draw(st.booleans())
    head = f'zone "{name}"' if quoted else f"zone {name}"
    klass = draw(st.sampled_from(["", " IN", " in"]))
    file = draw(st.sampled_from(["db.a", "sub/db.b", "/etc/bind/db.c", "../db.d", "db e"]))
    kind = draw(st.sampled_from(["master", "primary"]))
    extra = draw(st.sampled_from(["", " allow-update { none; };", " also-notify { 192.0.2.1; };"]))
    return f'{head}{klass} {{{draw(_COMMENTS)}\n\ttype {kind};\n\tfile "{file}";{extra}\n}};'


@st.composite
def configs(draw):
    """A named.conf tree of the grammar: (files by path, main path); zones maybe in views, some included."""
    directory = draw(st.sampled_from(["/var/cache/bind", "/var/named", "/srv/dns/"]))
    acl = 'acl "trusted" { 127.0.0.1; !192.0.2.0/24; { localhost; }; };'
    options = f'options {{{draw(_COMMENTS)}\n\tdirectory "{directory}";\n\tlisten-on {{ any; }};\n}};'
    zones = draw(st.lists(zone_statement(), min_size=1, max_size=5, unique_by=lambda z: z.split()[1].strip('"').rstrip(".").lower()))
    included = draw(st.integers(0, len(zones)))
    files = {"/etc/bind/inc.conf": "\n".join(zones[:included]) + "\n"}
    body = ['include "/etc/bind/inc.conf";'] + zones[included:]
    if draw(st.booleans()):
        body = [f'view "v1" {{{draw(_COMMENTS)}\n' + "\n".join(body) + "\n};"]
    files["/etc/bind/named.conf"] = "\n".join([acl, options] + body) + draw(_COMMENTS) + "\n"
    return files


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(configs())
def test_property_generated_configs_list_the_zones_named_checkconf_lists(bind, tmp_path, files):
    root = tmp_path / "gen"
    shutil.rmtree(root, ignore_errors=True)
    for path, text in files.items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(text)
    conf = N.parse(files["/etc/bind/named.conf"], read=files)
    (root / conf.cwd.lstrip("/")).mkdir(parents=True, exist_ok=True)
    assert ours(conf) == listed(bind, root, "/etc/bind/named.conf")
    for z in conf.zones:  # each zone file only where the model says named opens it
        (root / z.path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / z.path.lstrip("/")).write_text("$TTL 1h\n@ SOA ns.nowhere.test. root.nowhere.test. 1 2 3 4 5\n@ NS ns.nowhere.test.\n")
    loaded = checkconf(bind, root, "-z", "/etc/bind/named.conf")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
