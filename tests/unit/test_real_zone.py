"""The zone model against BIND itself: Debian's zone files, the lab's, and generated master files,
checked with the real named-checkzone from Debian's bind9-utils (unpacked, not installed).

`named-checkzone -D` prints the zone as named loaded it, every record with
its TTL: the effective TTLs of the model must be exactly those, lower_ttl's
result must load, and every TTL it leaves above the asked value must be in
its `.left` list.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fabfile.edit import zone as Z
from tests.debfiles import bind_tools, program

TODAY = datetime.date(2026, 11, 26)
DEBIAN_ZONES = [("localhost", "db.local"), ("127.in-addr.arpa", "db.127"), ("0.in-addr.arpa", "db.0"),
                ("255.in-addr.arpa", "db.255"), ("10.in-addr.arpa", "db.empty")]


@pytest.fixture(scope="module")
def bind():
    return bind_tools()


def checkzone(tree: Path, zone: str, path: Path, *args: str) -> subprocess.CompletedProcess:
    """named-checkzone run in the file's directory (where $INCLUDE names are opened), in-zone checks only."""
    return subprocess.run([*program(tree, "usr/bin/named-checkzone"), "-i", "local", *args, zone, path.name],
                          cwd=path.parent, capture_output=True, text=True)


def dumped(tree: Path, zone: str, path: Path) -> set[tuple[str, str, int]]:
    """{(owner, type, TTL)} as named-checkzone -D prints the loaded zone."""
    out = path.parent / (path.name + ".dump")
    result = checkzone(tree, zone, path, "-D", "-o", str(out))
    assert result.returncode == 0, f"named-checkzone refused {path.name}: {result.stdout}{result.stderr}"
    rows = set()
    for line in out.read_text().splitlines():
        owner, ttl, _class, rtype = line.split()[:4]
        rows.add((owner.lower(), rtype, int(ttl)))
    return rows


def modelled(text: str, origin: str, includes=None) -> set[tuple[str, str, int]]:
    return {(owner.lower(), rtype, ttl) for owner, rtype, ttl in Z.effective_ttls(text, origin=origin, includes=includes)}


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_bytes(text.encode())


def allowed_changes(before: Z.Zone) -> dict[str, set[int]]:
    """Offsets of the tokens a TTL plan may touch: TTLs, $TTL values, comments, the SOA serial."""
    allowed: dict[str, set[int]] = {}
    for name, zfile in before.files.items():
        spots = allowed.setdefault(name, set())
        for entry in zfile.entries:
            spots |= {t.start for t in entry.tokens if t.kind == "comment"}
            spots |= {entry.ttl.start} if entry.ttl else set()
            if entry.directive == "$TTL":
                spots.add(entry.rdata[0].start)
            if entry.rtype is not None and entry.rtype.text.upper() == "SOA" and len(entry.rdata) > 2:
                spots.add(entry.rdata[2].start)
    return allowed


def assert_only_ttl_bytes_changed(before: Z.Zone, plan: Z.TtlPlan) -> None:
    allowed = allowed_changes(before)
    for name, new in plan.files.items():
        old_tokens = Z.tokenize(before.files[name].text)
        new_tokens = Z.tokenize(new)
        if name == before.main and plan.added_default:
            new_tokens = new_tokens[4:]  # the $TTL line put on top: "$TTL", " ", value, newline
        assert [t.kind for t in old_tokens] == [t.kind for t in new_tokens]
        for old, tok in zip(old_tokens, new_tokens):
            assert old.text == tok.text or old.start in allowed[name], f"{name}: {old.text!r} -> {tok.text!r}"


def check_lowering(tree: Path, zone: str, files: dict[str, str], main: str, seconds: int) -> None:
    """lower_ttl both ways, checked by named-checkzone: loads, TTLs bounded or listed, idempotent, local."""
    includes = {k: v for k, v in files.items() if k != main}
    before = Z.load(files[main], name=main, origin=zone, includes=includes)
    for leave in (False, True):
        plan = Z.lower_ttl(files[main], seconds, today=TODAY, leave_records=leave, origin=zone, name=main, includes=includes)
        after = dict(files, **plan.files)
        with tempfile.TemporaryDirectory() as tmp:
            write(Path(tmp), after)
            shown = dumped(tree, zone, Path(tmp) / main)
        left = {(c.owner.lower(), c.rtype) for c in plan.left}
        assert leave or not plan.left
        assert {(o, t, ttl) for o, t, ttl in shown if ttl > seconds and (o, t) not in left} == set()
        assert shown == modelled(after[main], zone, {k: v for k, v in after.items() if k != main})
        again = Z.lower_ttl(after[main], seconds, today=TODAY, leave_records=leave, origin=zone, name=main,
                            includes={k: v for k, v in after.items() if k != main})
        assert not again.changed, again.files
        assert_only_ttl_bytes_changed(before, plan)


# ---- Debian's own zone files -------------------------------------------------------


@pytest.mark.parametrize("zone, name", DEBIAN_ZONES)
def test_debian_zone_files_round_trip_and_ttls_are_named_checkzones(bind, tmp_path, zone, name):
    text = (bind / "etc/bind" / name).read_text()
    assert Z.parse_file(text, name).render() == text
    write(tmp_path, {name: text})
    assert modelled(text, zone) == dumped(bind, zone, tmp_path / name)
    assert Z.zone_name_in_file(text) is None  # `@ IN SOA`: the name comes from named.conf


@pytest.mark.parametrize("zone, name", DEBIAN_ZONES)
@pytest.mark.parametrize("seconds", [0, 300, 86400, 604800])
def test_debian_zone_files_lowered(bind, zone, name, seconds):
    text = (bind / "etc/bind" / name).read_text()
    check_lowering(bind, zone, {name: text}, name, seconds)


def test_debian_db_local_lowered_exactly(bind):
    text = (bind / "etc/bind/db.local").read_text()
    plan = Z.lower_ttl(text, 300, today=TODAY, origin="localhost")
    assert plan.text == text.replace("$TTL\t604800", "$TTL\t300").replace("      2\t\t; Serial", "      3\t\t; Serial")
    assert plan.serial == (2, 3) and {(c.rtype, c.before, c.after) for c in plan.lowered} == {
        ("SOA", 604800, 300), ("NS", 604800, 300), ("A", 604800, 300), ("AAAA", 604800, 300)}


def test_root_hints_through_an_include(bind, tmp_path):
    """dns-root-data's root.hints (explicit TTLs, upper-case names, owners repeated) loaded by $INCLUDE."""
    hints = (bind / "usr/share/dns/root.hints").read_text()
    main = "$TTL 1d ; one day\n. IN SOA a.root-servers.net. nstld.verisign-grs.com. ( 2024041801 1800 900 604800 86400 )\n" \
           "$INCLUDE root.hints\n"
    files = {"root.zone": main, "root.hints": hints}
    write(tmp_path, files)
    assert modelled(main, ".", {"root.hints": hints}) == dumped(bind, ".", tmp_path / "root.zone")
    assert Z.find_serial(main, includes={"root.hints": hints}) == 2024041801
    check_lowering(bind, ".", files, "root.zone", 3600)
    plan = Z.lower_ttl(main, 3600, origin=".", name="root.zone", includes={"root.hints": hints})
    assert plan.files["root.hints"].count(" 3600      ") == hints.count(" 3600000      ")


# ---- the lab's zones (lab/seed.py) -----------------------------------------------------------


@pytest.fixture(scope="module")
def lab_zones(tmp_path_factory):
    from lab import config, seed

    root = tmp_path_factory.mktemp("labroot")
    cfg = config.load()
    seed._dns(root, cfg)
    namedb = root / cfg["bind"]["etc_dir"].lstrip("/") / cfg["bind"]["data_dir"]
    named_conf = (root / cfg["bind"]["etc_dir"].lstrip("/") / cfg["bind"]["named_conf"]).read_text()
    return namedb, named_conf


def test_lab_zones_named_by_named_conf_and_loaded(bind, lab_zones):
    namedb, named_conf = lab_zones
    for name in ("localhost.zone", "localhost.rev"):
        text = (namedb / name).read_text()
        zone = Z.zone_name(text, str(namedb / name).replace(str(namedb), "/usr/local/bind/etc/namedb"), named_conf)
        assert modelled(text, zone) == dumped(bind, zone, namedb / name)
        check_lowering(bind, zone, {name: text}, name, 300)


def test_lab_zones_swapped_load_and_swap_back(bind, lab_zones, tmp_path):
    from fabfile import settings as settings_mod
    from fabfile.edit import identity

    s = settings_mod.load(Path(__file__).resolve().parents[2] / "lab" / "hosts.toml")
    old, new = s.by_role("old"), s.by_role("new")
    mapping = identity.identity_mapping(old.before.as_dict(), old.after.as_dict(), new.before.as_dict(), new.after.as_dict())
    inverse = {v: k for k, v in mapping.items()}
    namedb, named_conf = lab_zones
    for name in ("localhost.zone", "localhost.rev"):
        text = (namedb / name).read_text()
        zone = Z.zone_name(text, "/usr/local/bind/etc/namedb/" + name, named_conf)
        swapped = identity.swap_zone_text(text, mapping, origin=zone, today=TODAY)
        assert swapped != text and Z.find_serial(swapped) == 2026112600
        write(tmp_path, {name: swapped})
        shown = dumped(bind, zone, tmp_path / name)
        assert shown == modelled(swapped, zone)
        back = identity.swap_zone_text(swapped, inverse, origin=zone, today=TODAY)
        assert re.sub(r"\b2026112601\b", "2009102001", back) == text


def test_generate_ttls_lowered_and_kept_verbatim(bind, tmp_path):
    """$GENERATE stays as written; its TTL is lowered like a record's (or left and listed)."""
    text = ("$TTL 1d\n@ SOA ns.example.net. root.example.net. ( 1 2 3 4 5 )\n@ NS ns.example.net.\n"
            "$GENERATE 1-20/2 host-${0,3,d} 2d A 10.0.0.$ ; pool, 2 days\n$GENERATE 30-32 h$ A 10.0.1.$\n")
    plan = Z.lower_ttl(text, 600, origin="example", name="gen.db")
    assert plan.text == text.replace("$TTL 1d", "$TTL 600").replace(" 2d A", " 600 A").replace("2 days", "10 minutes")
    write(tmp_path, {"gen.db": plan.text})
    shown = dumped(bind, "example", tmp_path / "gen.db")
    assert len(shown) == 2 + 10 + 3 and {ttl for _, _, ttl in shown} == {600}
    left = Z.lower_ttl(text, 600, origin="example", leave_records=True).left
    assert [(c.owner, c.after) for c in left] == [("$GENERATE host-${0,3,d}", 172800)]


# ---- generated master files ----------------------------------------------------------------------

LABELS = ["a", "A", "b", "www", "mail", "h-1", "a.example."]


@st.composite
def ttl_words(draw, max_value=2 * 10**6):
    seconds = draw(st.integers(0, max_value))
    style = draw(st.sampled_from(["digits", "bind", "lower", "units"]))
    if style == "digits":
        return str(seconds)
    if style == "units":  # e.g. 1w2d written long-hand with mixed case
        weeks, rest = divmod(seconds, 604800)
        days, rest = divmod(rest, 86400)
        return f"{weeks}W{days}d{rest}s"
    text = Z.ttl_text(seconds)
    return text.lower() if style == "lower" else text


def quoted():
    piece = st.sampled_from(["a", "b", " ", ";", "(", ")", '\\"', "\\\\", "x y", "3600"])
    return st.lists(piece, max_size=5).map(lambda parts: '"' + "".join(parts) + '"')


def rdata():
    return st.one_of(
        st.tuples(st.integers(0, 255), st.integers(1, 254)).map(lambda t: ("A", [f"10.0.{t[0]}.{t[1]}"])),
        st.integers(1, 65535).map(lambda n: ("AAAA", [f"2001:db8::{n:x}"])),
        st.lists(quoted(), min_size=1, max_size=3).map(lambda q: ("TXT", q)),
        st.integers(0, 100).map(lambda n: ("MX", [str(n), "mx.example.net."])),
    )


def comment():
    return st.text(alphabet='abc ();"0123456789hmd', max_size=15).map(lambda s: ";" + s)


@st.composite
def record_line(draw, eol, blank_ok=True):
    owner = draw(st.sampled_from(LABELS + (["", "@"] if blank_ok else ["@"])))
    ttl = draw(st.none() | ttl_words())
    klass = draw(st.sampled_from([None, "IN", "in"]))
    head = [klass, ttl] if draw(st.booleans()) else [ttl, klass]
    rtype, data = draw(rdata())
    sep = draw(st.sampled_from([" ", "\t", "  \t"]))
    if len(data) > 1 and draw(st.booleans()):  # the data over several lines, comments inside
        inner = draw(st.none() | comment())
        data = ["(", data[0] + (" " + inner if inner else "") + eol + "\t" + " ".join(data[1:]), ")"]
    tail = draw(st.none() | comment())
    line = (owner or draw(st.sampled_from([" ", "\t"]))) + sep + sep.join([w for w in head if w] + [rtype] + data)
    return line + (" " + tail if tail else "")


@st.composite
def body_item(draw, eol, include_ok):
    kind = draw(st.sampled_from(["record"] * 6 + ["ttl", "comment", "blank", "origin", "delegation"]
                                + (["include"] if include_ok else [])))
    if kind == "record":
        return [draw(record_line(eol))]
    if kind == "ttl":
        return [f"$TTL {draw(ttl_words())}" + draw(st.sampled_from(["", " ; 1 hour", "\t;ttl"]))]
    if kind == "comment":
        return [draw(comment())]
    if kind == "blank":
        return [draw(st.sampled_from(["", " ", "\t"]))]
    if kind == "origin":  # records under another origin, then back
        return ["$ORIGIN sub2.example."] + [draw(record_line(eol, blank_ok=False))] + ["$ORIGIN example."]
    if kind == "delegation":
        ttl = draw(st.none() | ttl_words())
        return [f"sub {ttl or ''} NS ns.sub", f"ns.sub {draw(st.none() | ttl_words()) or ''} A 10.0.9.9",
                f"sub {draw(st.none() | ttl_words()) or ''} NS ns2.example.net."]
    return ["$INCLUDE inc.db" + draw(st.sampled_from(["", " sub3.example.", " example."]))]


@st.composite
def zones(draw):
    """A master file of the grammar (and maybe the one it $INCLUDEs): (files, main name)."""
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [f"$TTL {draw(ttl_words())}"] if draw(st.booleans()) else []
    soa_ttl = draw(st.none() | ttl_words())
    lines.append(f"@ {soa_ttl or ''} IN SOA ns.example.net. hostmaster.example.net. ( {draw(st.integers(0, 2**32 - 2))}"
                 f" ; serial{eol}  3600 900 604800 {draw(ttl_words(max_value=86400))} )")
    lines.append(f"@ {draw(st.none() | ttl_words()) or ''} NS ns.example.net.")
    include_at = draw(st.booleans())
    for index, item in enumerate(draw(st.lists(body_item(eol, include_ok=include_at), max_size=12))):
        lines += item
    files = {"main.db": eol.join(lines) + eol}
    if any(line.startswith("$INCLUDE") for line in lines):
        inner = [line for item in draw(st.lists(body_item(eol, include_ok=False), max_size=5)) for line in item]
        files["inc.db"] = eol.join(inner) + (eol if inner else "")
    return files


RELAXED = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@RELAXED
@given(zones())
def test_property_generated_zones_round_trip_and_ttls_are_named_checkzones(bind, files):
    for name, text in files.items():
        assert Z.parse_file(text, name).render() == text
    includes = {k: v for k, v in files.items() if k != "main.db"}
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), files)
        assert modelled(files["main.db"], "example", includes) == dumped(bind, "example", Path(tmp) / "main.db")


@RELAXED
@given(zones(), st.sampled_from([0, 60, 300, 3600, 86400]))
def test_property_generated_zones_lowered(bind, files, seconds):
    check_lowering(bind, "example", files, "main.db", seconds)
