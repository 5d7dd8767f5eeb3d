"""Identity swap: one pass, whole names matched as DNS matches them, the site's names only; the leftover search."""

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.identity import (
    find_leftovers, identity_mapping, is_leftover, reference_mapping, site_domains, swap_text, swap_tokens,
)

OLD_BEFORE = {"hostname": "itpass", "fqdn": "itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.22"}
OLD_AFTER = {"hostname": "old-itpass", "fqdn": "old-itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.21"}
NEW_BEFORE = {"hostname": "ika-itpass", "fqdn": "ika-itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.21"}
NEW_AFTER = {"hostname": "itpass", "fqdn": "itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.22"}
SEED_MAPPING = identity_mapping(OLD_BEFORE, OLD_AFTER, NEW_BEFORE, NEW_AFTER)


def test_identity_mapping_seed():
    assert SEED_MAPPING == {
        "itpass": "old-itpass",
        "itpass.scitec.kobe-u.ac.jp": "old-itpass.scitec.kobe-u.ac.jp",
        "133.30.109.22": "133.30.109.21",
        "ika-itpass": "itpass",
        "ika-itpass.scitec.kobe-u.ac.jp": "itpass.scitec.kobe-u.ac.jp",
        "133.30.109.21": "133.30.109.22",
    }


def test_identity_mapping_skips_missing_and_unchanged_keys():
    assert identity_mapping({"hostname": "a"}, {"hostname": "a", "ip": "1.2.3.4"}, {"fqdn": "b.x"}, {"fqdn": "c.x"}) == {"b.x": "c.x"}


def test_identity_mapping_refuses_contradiction():
    with pytest.raises(EditError, match="both"):
        identity_mapping({"hostname": "a"}, {"hostname": "b"}, {"hostname": "a"}, {"hostname": "c"})


def test_swap_hosts_file_of_the_seed():
    hosts = (
        "127.0.0.1 localhost\n"
        "133.30.109.22 itpass.scitec.kobe-u.ac.jp itpass\n"
        "133.30.109.21 ika-itpass.scitec.kobe-u.ac.jp ika-itpass new-itpass\n"
    )
    assert swap_tokens(hosts, SEED_MAPPING) == (
        "127.0.0.1 localhost\n"
        "133.30.109.21 old-itpass.scitec.kobe-u.ac.jp old-itpass\n"
        "133.30.109.22 itpass.scitec.kobe-u.ac.jp itpass new-itpass\n"
    )


def test_simultaneous_swap_does_not_merge():
    assert swap_tokens("a b a b", {"a": "b", "b": "a"}) == "b a b a"


# Changed with the DNS rule (issue 12): `ika.local` and `ika_1` are other names now, not `ika`.
def test_ika_does_not_touch_ikax_ika_itpass_or_names_in_other_domains():
    text = "ika ikaX ika-itpass xika ika.local ika_1 IKA"
    assert swap_tokens(text, {"ika": "tako"}) == "tako ikaX ika-itpass xika ika.local ika_1 TAKO"


# Changed with the DNS rule (issue 12): `itpass.other` is a name in a foreign domain, kept.
def test_a_label_inside_another_name_is_not_the_name():
    mapping = {"itpass": "old-itpass", "itpass.scitec.kobe-u.ac.jp": "www.example.org"}
    assert swap_tokens("itpass.scitec.kobe-u.ac.jp itpass.other itpass.", mapping) == "www.example.org itpass.other old-itpass."


def test_names_match_case_insensitively_and_keep_their_case_style():
    text = "ITPASS Itpass itpass iTpass Itpass.Scitec.Kobe-U.Ac.Jp ITPASS.SCITEC.KOBE-U.AC.JP Ika-Itpass"
    assert swap_tokens(text, SEED_MAPPING) == (
        "OLD-ITPASS Old-Itpass old-itpass old-itpass Old-Itpass.Scitec.Kobe-U.Ac.Jp OLD-ITPASS.SCITEC.KOBE-U.AC.JP Itpass")


def test_foreign_lookalikes_and_names_under_the_host_stay():
    text = ("mail.itpass.example.jp itpass.example.jp www.itpass.scitec.kobe-u.ac.jp itpass.scitec.kobe-u.ac.jp.evil\n"
            "x-itpass itpass2 itpass.scitec itpass.scitec.kobe-u.ac\n")
    assert swap_tokens(text, SEED_MAPPING) == text


def test_mail_addresses_urls_and_paths():
    text = ("admin = itpadmin@itpass.scitec.kobe-u.ac.jp\nlist = itpass@itpass\nhome = /home/itpass ~itpass\n"
            "url = http://itpass.scitec.kobe-u.ac.jp/gate/ rsync://Itpass/mod scp root@itpass:/srv\n")
    assert swap_tokens(text, SEED_MAPPING) == (
        "admin = itpadmin@old-itpass.scitec.kobe-u.ac.jp\nlist = itpass@old-itpass\nhome = /home/itpass ~itpass\n"
        "url = http://old-itpass.scitec.kobe-u.ac.jp/gate/ rsync://Old-Itpass/mod scp root@old-itpass:/srv\n")


def test_ip_prefix_2_does_not_touch_22():
    text = "133.30.109.2 133.30.109.22 133.30.109.2/24 1133.30.109.2 133.30.109.2.5"
    assert swap_tokens(text, {"133.30.109.2": "10.0.0.1"}) == "10.0.0.1 133.30.109.22 10.0.0.1/24 1133.30.109.2 133.30.109.2.5"


def test_ip_not_inside_a_longer_address():
    text = "133.30.109.221 1.133.30.109.22 133.30.109.22.1 [133.30.109.22]:22 addr=133.30.109.22;"
    assert swap_tokens(text, SEED_MAPPING) == "133.30.109.221 1.133.30.109.22 133.30.109.22.1 [133.30.109.21]:22 addr=133.30.109.21;"


def test_ip_in_reverse_zone_context():
    assert swap_tokens("address 133.30.109.21\n", {"133.30.109.21": "133.30.109.22"}) == "address 133.30.109.22\n"


def test_swap_with_regex_characters_in_key():
    assert swap_tokens("a+b a.b", {"a.b": "c"}) == "a+b c"


def test_swap_empty_mapping_returns_text():
    assert swap_tokens("x", {}) == "x"


def test_swap_refuses_empty_key():
    with pytest.raises(EditError):
        swap_tokens("x", {"": "y"})


@pytest.mark.parametrize("mapping, message", [
    ({"2001:db8::1": "2001:db8::2"}, "IPv6"),
    ({"itpass": "133.30.109.22"}, "a name becomes a name"),
    ({"it pass": "x"}, "not a host name"),
    ({"itpass": "a", "ITPASS": "b"}, "both"),
])
def test_swap_refuses_what_it_cannot_swap_safely(mapping, message):
    with pytest.raises(EditError, match=message):
        swap_tokens("itpass", mapping)


def test_reference_mapping_keeps_only_vanishing_names():
    assert reference_mapping(SEED_MAPPING) == {"ika-itpass": "itpass", "ika-itpass.scitec.kobe-u.ac.jp": "itpass.scitec.kobe-u.ac.jp"}


def test_site_domains():
    assert site_domains(["itpass.scitec.kobe-u.ac.jp", "Old-Itpass.Scitec.Kobe-U.Ac.Jp.", "dennou", ""]) == ["scitec.kobe-u.ac.jp"]


def test_swap_text_plain_and_zone():
    assert swap_text("itpass\n", SEED_MAPPING, zone=False) == "old-itpass\n"
    zone = "$TTL 1h\n@ SOA ns root ( 2009102001 1 2 3 4 )\nitpass A 133.30.109.22\n"
    import datetime
    assert swap_text(zone, SEED_MAPPING, zone=True, origin="scitec.kobe-u.ac.jp.", today=datetime.date(2026, 11, 26)) == (
        "$TTL 1h\n@ SOA ns root ( 2026112600 1 2 3 4 )\nold-itpass A 133.30.109.21\n")


# ---- the leftover search -------------------------------------------------------------

# Changed with the DNS rule (issue 12): `ika-itpass` is another host's name, not a leftover `ika`.
def test_find_leftovers_by_the_swaps_rule():
    text = "ika\nikaX\nika-itpass\nhost tako here\nnothing\n"
    assert find_leftovers(text, ["ika", "tako"]) == [(1, "ika"), (4, "host tako here")]


def test_find_leftovers_case_domains_and_foreign_names():
    text = ("IKA\nroot@ika.scitec.kobe-u.ac.jp\nika.example.jp\n/home/ika/x\nmail.ika.scitec.kobe-u.ac.jp\n"
            "Tako.Scitec.Kobe-U.Ac.Jp.\n")
    domains = site_domains(["itpass.scitec.kobe-u.ac.jp"])
    assert find_leftovers(text, ["ika", "tako"], domains) == [(1, "IKA"), (2, "root@ika.scitec.kobe-u.ac.jp"),
                                                              (6, "Tako.Scitec.Kobe-U.Ac.Jp.")]
    assert is_leftover("sshd: ika.scitec.kobe-u.ac.jp", ["ika"], domains)
    assert not is_leftover("sshd: ika.scitec.kobe-u.ac.jp", ["ika"])


def test_find_leftovers_none():
    assert find_leftovers("itpass\n", ["ika"]) == [] and find_leftovers("ika\n", []) == []


# ---- the lab's identity files (lab/seed.py) -----------------------------------------------


def lab_mapping():
    from fabfile import settings as settings_mod

    s = settings_mod.load(Path(__file__).resolve().parents[2] / "lab" / "hosts.toml")
    old, new = s.by_role("old"), s.by_role("new")
    return identity_mapping(old.before.as_dict(), old.after.as_dict(), new.before.as_dict(), new.after.as_dict())


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory):
    from lab import config, seed

    roots = {}
    for host in ("old", "new"):
        root = tmp_path_factory.mktemp(host)
        seed._identity(root, host, config.load())
        seed._site(root, host, config.load())
        roots[host] = {p: (root / p.lstrip("/")).read_text() for p in
                       ("/etc/hostname", "/etc/mailname", "/etc/hosts", "/etc/network/interfaces",
                        "/etc/gate/gate.conf", "/etc/exim4/update-exim4.conf.conf")}
    return roots


def test_lab_identity_files_swap_and_swap_back(lab_files):
    mapping = lab_mapping()
    inverse = {v: k for k, v in mapping.items()}
    new = {path: swap_tokens(text, mapping) for path, text in lab_files["new"].items()}
    assert new["/etc/hostname"] == "itpass\n" and new["/etc/mailname"] == "itpass.scitec.kobe-u.ac.jp\n"
    assert "\taddress 198.18.0.22\n" in new["/etc/network/interfaces"]
    assert "198.18.0.22\titpass.scitec.kobe-u.ac.jp itpass" in new["/etc/hosts"]
    assert "198.18.0.21\told-itpass.scitec.kobe-u.ac.jp old-itpass" in new["/etc/hosts"]
    assert "admin_mail = itpadmin@itpass.scitec.kobe-u.ac.jp\n" in new["/etc/gate/gate.conf"]
    for host, files in lab_files.items():
        for path, text in files.items():
            assert swap_tokens(swap_tokens(text, mapping), inverse) == text, (host, path)


# ---- properties ----------------------------------------------------------------------------

_name = st.text(alphabet="abcik0-", min_size=1, max_size=6).filter(lambda s: not s.startswith("-") and not s.endswith("-"))
_ip = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


def _text_from(pieces):
    return st.lists(st.one_of(st.sampled_from(pieces), st.sampled_from([" ", ".", "\n", "-", "X", "1", ":", "/"])), max_size=25).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.data(), _name, _name)
def test_property_name_swap_twice_is_identity(data, a, b):
    if a == b:
        return
    text = data.draw(_text_from([a, b, a + "X", a + "-" + b, b + "." + a]))
    mapping = {a: b, b: a}
    assert swap_tokens(swap_tokens(text, mapping), mapping) == text


@settings(max_examples=200, deadline=None)
@given(st.data(), _ip, _ip)
def test_property_ip_swap_twice_is_identity(data, a, b):
    if a == b:
        return
    text = data.draw(_text_from([a, b, a + "1", "1" + b, a + ".7", b + "/24"]))
    mapping = {a: b, b: a}
    assert swap_tokens(swap_tokens(text, mapping), mapping) == text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["localhost", "127.0.0.1", "ikaX", "other.host", "10.0.0.1", "# comment"]), max_size=10))
def test_property_unrelated_lines_untouched(words):
    text = "\n".join(words) + "\n"
    assert swap_tokens(text, SEED_MAPPING) == text


# labels of two letters at least, so that ITPASS (upper) and Itpass (title) are told apart
_label = st.tuples(st.text("abcdeikp", min_size=2, max_size=5), st.sampled_from(["", "-1", "-x2", "0", "-ml"])).map("".join)
_domain = st.lists(_label, min_size=2, max_size=3).map(".".join)
_foreign = st.lists(st.text("xyz", min_size=2, max_size=4), min_size=2, max_size=3).map(".".join)  # never the site's
_octet = st.integers(1, 254)


@st.composite
def site(draw):
    """Two hosts trading identities as at the site: old's name goes to new, new's old name vanishes."""
    domain = draw(_domain)
    names = draw(st.lists(_label, min_size=3, max_size=3, unique=True))
    net = ".".join(map(str, draw(st.tuples(_octet, _octet, _octet))))
    ips = draw(st.lists(_octet, min_size=2, max_size=2, unique=True))
    service, old_after, new_before = names
    host = lambda h, ip: {"hostname": h, "fqdn": f"{h}.{domain}", "ip": f"{net}.{ip}"}
    mapping = identity_mapping(host(service, ips[0]), host(old_after, ips[1]), host(new_before, ips[1]), host(service, ips[0]))
    foreign = draw(_foreign)
    return mapping, domain, foreign, (service, old_after, new_before), net, ips


def _cases(word):
    return st.sampled_from([word, word.upper(), word.title()])


@st.composite
def site_text(draw, site_):
    """A hosts/interfaces/mail-config text naming the site's hosts, with foreign look-alikes around them."""
    mapping, domain, foreign, (service, old_after, new_before), net, ips = site_
    keys = [k for k in mapping if not k[0].isdigit()]
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        key = draw(st.sampled_from(keys))
        ip = f"{net}.{draw(st.sampled_from(ips))}"
        template = draw(st.sampled_from([
            "{ip}\t{name} {short}", "\taddress {ip}", "dc_other_hostnames='{name}'", "admin = root@{name}",
            "url = http://{name}/gate/", "{name}:", "server {name};  # {ip}",
        ]))
        lines.append(template.format(ip=ip, name=draw(_cases(key)), short=draw(_cases(key.split(".")[0]))))
    return "\n".join(lines) + "\n"


def _lookalikes(site_):
    mapping, domain, foreign, (service, old_after, new_before), net, ips = site_
    return [f"{service}.{foreign}", f"mail.{service}.{foreign}", f"www.{service}.{domain}", f"{service}x",
            f"{net}.{ips[0]}1", f"1{net}.{ips[0]}", f"/home/{service}", f"{service}@{foreign}", f"x-{new_before}"]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_property_swap_then_inverse_is_identity(data):
    site_ = data.draw(site())
    mapping = site_[0]
    text = data.draw(site_text(site_))
    inverse = {v: k for k, v in mapping.items()}
    once = swap_tokens(text, mapping)
    assert swap_tokens(once, inverse) == text


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_property_one_pass_no_chaining(data):
    site_ = data.draw(site())
    mapping, domain, _, (service, old_after, new_before), _, _ = site_
    text = data.draw(st.lists(st.sampled_from([service, new_before, f"{service}.{domain}", f"{new_before}.{domain}"]),
                              min_size=1, max_size=8).map(" ".join))
    expected = " ".join(mapping[word] for word in text.split(" "))
    assert swap_tokens(text, mapping) == expected  # new_before -> service, never on to old_after


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_property_foreign_lookalikes_untouched(data):
    site_ = data.draw(site())
    looks = _lookalikes(site_)
    text = data.draw(st.lists(st.sampled_from(looks), min_size=1, max_size=6).map(lambda w: " ; ".join(w) + "\n"))
    mixed = data.draw(site_text(site_)) + text
    assert swap_tokens(mixed, site_[0]).endswith(text)
    assert find_leftovers(text, [site_[3][0]], [site_[1]]) == []
