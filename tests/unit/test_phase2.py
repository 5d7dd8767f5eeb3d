"""phase2's pure logic: known_hosts rewriting, the identity swap (zone-aware), C3's checks, C10's launch."""

import base64
import datetime
import hashlib
import hmac
from pathlib import Path

import pytest

from fabfile import settings as settings_mod
from fabfile.ops import accounts, identity, knownhosts, network
from zone_samples import FWD, REV  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "hosts.toml"
LAB = Path(__file__).resolve().parents[2] / "lab" / "hosts.toml"
K_OLD = "AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDO"
K_NEW = "AAAAC3NzaC1lZDI1NTE5AAAAINEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWN"


@pytest.fixture(scope="module")
def seed_settings():
    return settings_mod.load(SHIPPED)


@pytest.fixture(scope="module")
def mapping(seed_settings):
    return identity.mapping_for(seed_settings)


# ---- known_hosts -----------------------------------------------------------


def hashed(name, salt=b"0123456789abcdefghij"):
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_known_hosts_after_address_gets_the_hosts_key_and_stale_lines_go():
    text = (
        "# operator's known hosts\n"
        f"133.30.109.22,itpass.scitec.kobe-u.ac.jp ssh-ed25519 {K_OLD}\n"
        f"133.30.109.21,ika-itpass ssh-ed25519 {K_NEW}\n"
        f"133.30.109.21 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC\n"
        f"@cert-authority *.kobe-u.ac.jp ssh-ed25519 AAAACA\n"
        f"dennou ssh-ed25519 AAAADENNOU\n"
    )
    after = knownhosts.set_host_key(text, "133.30.109.21", "ssh-ed25519", K_OLD)
    assert after == (
        "# operator's known hosts\n"
        f"133.30.109.22,itpass.scitec.kobe-u.ac.jp ssh-ed25519 {K_OLD}\n"
        f"ika-itpass ssh-ed25519 {K_NEW}\n"          # other names on the line stay
        f"@cert-authority *.kobe-u.ac.jp ssh-ed25519 AAAACA\n"
        f"dennou ssh-ed25519 AAAADENNOU\n"
        f"133.30.109.21 ssh-ed25519 {K_OLD}\n"
    )
    assert knownhosts.entries_for(after, "133.30.109.21") == [("ssh-ed25519", K_OLD)]
    # second run: unchanged text
    assert knownhosts.set_host_key(after, "133.30.109.21", "ssh-ed25519", K_OLD) == after


def test_known_hosts_hashed_entries_are_matched_and_others_kept():
    mine, other = hashed("198.18.0.21"), hashed("198.18.0.30", salt=b"saltsaltsaltsaltsalt")
    text = f"{mine} ssh-ed25519 {K_NEW}\n{other} ssh-ed25519 AAAABACKUP\n"
    after = knownhosts.set_host_key(text, "198.18.0.21", "ssh-ed25519", K_OLD)
    assert after == f"{other} ssh-ed25519 AAAABACKUP\n198.18.0.21 ssh-ed25519 {K_OLD}\n"
    assert knownhosts.entries_for(text, "198.18.0.21") == [("ssh-ed25519", K_NEW)]


def test_known_hosts_port_form_and_missing_final_newline():
    name = knownhosts.host_field_name("10.0.0.5", 2222)
    assert name == "[10.0.0.5]:2222"
    after = knownhosts.set_host_key("10.0.0.5 ssh-ed25519 AAAAX", name, "ssh-ed25519", K_OLD)
    assert after == f"10.0.0.5 ssh-ed25519 AAAAX\n[10.0.0.5]:2222 ssh-ed25519 {K_OLD}\n"


def test_known_hosts_forget_removes_only_that_key():
    text = f"198.18.0.21 ssh-ed25519 {K_OLD}\n198.18.0.21,x ssh-ed25519 {K_NEW}\n"
    assert knownhosts.forget_host_key(text, "198.18.0.21", K_OLD) == f"198.18.0.21,x ssh-ed25519 {K_NEW}\n"


def test_known_hosts_rewrite_file_is_atomic_and_keeps_mode(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text(f"198.18.0.21 ssh-ed25519 {K_NEW}\n")
    path.chmod(0o644)
    assert knownhosts.rewrite_file(str(path), lambda t: knownhosts.set_host_key(t, "198.18.0.21", "ssh-ed25519", K_OLD))
    assert path.read_text() == f"198.18.0.21 ssh-ed25519 {K_OLD}\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert not knownhosts.rewrite_file(str(path), lambda t: t)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["known_hosts"]


# ---- the identity swap -------------------------------------------------------




def records(text):
    """{(owner, type): data} of one-line records (tests only)."""
    out = {}
    for line in text.splitlines():
        fields = line.split(";")[0].split()
        if len(fields) >= 4 and not line[0].isspace() and fields[-2] in ("A", "PTR", "CNAME"):
            out[(fields[0], fields[-2])] = fields[-1]
    return out


def test_zone_swap_moves_addresses_with_names_and_keeps_role_references(mapping):
    after = identity.swap_text(FWD, mapping, zone=True, origin="scitec.kobe-u.ac.jp.", today=datetime.date(2026, 11, 26))
    got = records(after)
    # V6: itpass -> .22 (new), old-itpass -> .21 (old), new-itpass -> .22
    assert got[("itpass", "A")] == "133.30.109.22"
    assert got[("old-itpass", "A")] == "133.30.109.21"
    assert got[("new-itpass", "A")] == "133.30.109.22"
    assert got[("tako", "A")] == "133.30.109.21" and got[("ika", "A")] == "133.30.109.22"
    assert ("ika-itpass", "A") not in got
    # references to the service stay the service; a vanished name follows its machine
    assert "\tIN\tMX\t10 itpass.scitec.kobe-u.ac.jp.\n" in after
    assert "\tIN\tNS\titpass.scitec.kobe-u.ac.jp.\n" in after
    assert "SOA\titpass.scitec.kobe-u.ac.jp. root.itpass.scitec.kobe-u.ac.jp. (" in after
    assert got[("mail", "CNAME")] == "itpass"
    assert "2026112600\t; serial" in after and "; old's machine name" in after


def test_reverse_zone_owners_follow_the_address(mapping):
    after = identity.swap_text(REV, mapping, zone=True, origin="109.30.133.in-addr.arpa.", today=datetime.date(2026, 11, 26))
    got = records(after)
    assert got[("21", "PTR")] == "old-itpass.scitec.kobe-u.ac.jp."
    assert got[("22", "PTR")] == "itpass.scitec.kobe-u.ac.jp."
    assert got[("30", "PTR")] == "dennou.scitec.kobe-u.ac.jp."
    assert "( 2026112600 10800" in after


def test_unchanged_zone_keeps_its_serial(mapping):
    text = "$TTL 300\n@ IN SOA ns.example. root.example. ( 2009102001 1 1 1 1 )\nwww IN A 10.0.0.1\n"
    assert identity.swap_text(text, mapping, zone=True, origin="example.") == text


def test_plain_files_swap_both_hosts(mapping):
    hosts = ("133.30.109.22\titpass.scitec.kobe-u.ac.jp itpass tako\n"
             "133.30.109.21\tika-itpass.scitec.kobe-u.ac.jp ika-itpass new-itpass ika\n")
    assert identity.swap_text(hosts, mapping, zone=False) == (
        "133.30.109.21\told-itpass.scitec.kobe-u.ac.jp old-itpass tako\n"
        "133.30.109.22\titpass.scitec.kobe-u.ac.jp itpass new-itpass ika\n")
    assert identity.swap_text("itpass\n", mapping, zone=False) == "old-itpass\n"
    assert identity.swap_text("ika-itpass\n", mapping, zone=False) == "itpass\n"
    assert identity.swap_text("\taddress 133.30.109.21\n", mapping, zone=False) == "\taddress 133.30.109.22\n"


def test_swap_state_from_the_journal():
    rec = {"step": "C8", "event": "change", "host": "new", "path": "/etc/hosts", "sha256_before": "A", "sha256_after": "B",
           "time": "t", "backup": "/etc/hosts.bak"}
    other = dict(rec, host="old", sha256_after="Z")
    assert identity.swap_state([], "new", "/etc/hosts", "A").action == "swap"
    assert identity.swap_state([rec, other], "new", "/etc/hosts", "B").action == "done"
    assert identity.swap_state([rec], "new", "/etc/hosts", "A").action == "swap"      # restored from backup / reset lab
    state = identity.swap_state([rec], "new", "/etc/hosts", "C")
    assert state.action == "conflict" and "/etc/hosts.bak" in state.detail
    dry = dict(rec, event="unchanged")
    assert identity.swap_state([dry], "new", "/etc/hosts", "C").action == "swap"


def test_leftover_grep_command_and_parse():
    cmd = identity.leftover_command("/etc", ["ika", "tako"], identity.BACKUP_GLOBS)
    assert cmd == ["grep", "-rnIwZi", "--exclude=*.serverswap-*", "--exclude=.*.serverswap-tmp", "-e", "ika", "-e", "tako", "--", "/etc"]
    out = "/etc/hosts\x003:198.18.0.22\titpass tako\n/etc/a:b\x0012:ika: x\n"
    assert identity.parse_grep(out) == [("/etc/hosts", 3, "198.18.0.22\titpass tako"), ("/etc/a:b", 12, "ika: x")]


def test_lab_mapping_is_a_swap():
    s = settings_mod.load(LAB)
    m = identity.mapping_for(s)
    assert m["198.18.0.22"] == "198.18.0.21" and m["198.18.0.21"] == "198.18.0.22"
    assert m["itpass"] == "old-itpass" and m["ika-itpass"] == "itpass"
    assert identity.reference_mapping(m) == {"ika-itpass": "itpass", "ika-itpass.scitec.kobe-u.ac.jp": "itpass.scitec.kobe-u.ac.jp"}


# ---- C3 checks -------------------------------------------------------------------

STOCK = """user 'lp': directory '/var/spool/lpd' does not exist
user 'news': directory '/var/spool/news' does not exist
pwck: no changes
pwck-exit=2
grpck-exit=0
"""


def test_pwck_missing_homes_alone_are_not_problems():
    homes, problems = accounts.check_report(STOCK)
    assert homes == {"lp", "news"} and problems == set()


def test_pwck_new_complaints_after_the_merge():
    after = STOCK + "user 'yasuda': directory '/home/yasuda' does not exist\nuser 'x': no group 1500\n"
    missing, introduced = accounts.new_complaints(STOCK, after, carried={"yasuda"})
    assert missing == {"yasuda"} and introduced == {"user 'x': no group 1500"}
    missing, introduced = accounts.new_complaints(STOCK, STOCK + "user 'zz': directory '/z' does not exist\n", carried=set())
    assert introduced == {"user 'zz': home directory missing"}


def test_inline_hash_detection():
    assert not accounts.inline_hash(["yasuda:x:1002:1002::/home/yasuda:/bin/bash", "g:!:5:"])
    assert accounts.inline_hash(["old:$6$salt$hash:1002:1002::/home/old:/bin/sh"])


def test_lock_script_uses_fcntl_lock_on_pwd_lock():
    # lckpwdf() semantics: a POSIX fcntl lock on /etc/.pwd.lock (flock(2) would not exclude passwd/useradd)
    assert "/etc/.pwd.lock" in accounts.LOCK_SCRIPT and "fcntl.lockf" in accounts.LOCK_SCRIPT
    assert "flock(" not in accounts.LOCK_SCRIPT
    compile(accounts.LOCK_SCRIPT, "lock", "exec")


def test_write_order_puts_the_user_last():
    assert accounts.WRITE_ORDER[-1] == "/etc/passwd" and accounts.WRITE_ORDER.index("/etc/group") == 0


# ---- C10 ---------------------------------------------------------------------------


def test_launch_sets_the_hostname_restarts_by_argv_and_pings_the_operator(seed_settings):
    script = network.launch_script(seed_settings, "10.1.2.3")
    assert script.args == ("10.1.2.3", "/etc/init.d/networking", "restart")   # values as arguments, never in the text
    assert "hostname -F /etc/hostname" in script.text and '"$@"' in script.text and "ping -c 2 -W 1 \"$OPERATOR\"" in script.text
    assert network.launch_script(seed_settings, None).args[0] == ""


def test_known_hosts_name_is_the_after_address(seed_settings):
    assert network.known_hosts_names(seed_settings.by_role("old"))[0] == "133.30.109.21"
    assert network.known_hosts_names(seed_settings.by_role("new"))[0] == "133.30.109.22"


def test_known_hosts_names_follow_the_swap(seed_settings):
    old, new = seed_settings.by_role("old"), seed_settings.by_role("new")
    assert network.known_hosts_names(old) == ["133.30.109.21", "old-itpass.scitec.kobe-u.ac.jp", "old-itpass"]
    assert network.known_hosts_names(new) == ["133.30.109.22", "itpass.scitec.kobe-u.ac.jp", "itpass"]
    text = (f"133.30.109.22,itpass.scitec.kobe-u.ac.jp,itpass ssh-ed25519 {K_OLD}\n"
            f"133.30.109.21,ika-itpass,new-itpass ssh-ed25519 {K_NEW}\n")
    for spec, key in ((old, K_OLD), (new, K_NEW)):
        for name in network.known_hosts_names(spec):
            text = knownhosts.set_host_key(text, name, "ssh-ed25519", key)
    assert knownhosts.entries_for(text, "itpass") == [("ssh-ed25519", K_NEW)]
    assert knownhosts.entries_for(text, "133.30.109.21") == [("ssh-ed25519", K_OLD)]
    assert knownhosts.entries_for(text, "old-itpass.scitec.kobe-u.ac.jp") == [("ssh-ed25519", K_OLD)]
    assert knownhosts.entries_for(text, "new-itpass") == [("ssh-ed25519", K_NEW)]
    assert knownhosts.entries_for(text, "133.30.109.22") == [("ssh-ed25519", K_NEW)]
