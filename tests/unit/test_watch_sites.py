"""What the watcher asks and where it may go, read from the shipped hosts files (the seed's and the lab's)."""

from pathlib import Path

import pytest

from fabfile import settings as settings_mod
from fabfile.watch import probes, sites
from fabfile.watch.probes import Answer, judge_dns

ROOT = Path(__file__).resolve().parents[2]
SITE = "scitec.kobe-u.ac.jp"


@pytest.fixture(scope="module")
def lab():
    return settings_mod.load(ROOT / "lab" / "hosts.toml")


@pytest.fixture(scope="module")
def seed():
    return settings_mod.load(ROOT / "hosts.toml")


def test_only_old_and_new_addresses_are_listed(lab, seed):
    assert sites.listed_addresses(lab) == {"198.18.0.21", "198.18.0.22"}
    assert sites.listed_addresses(seed) == {"133.30.109.21", "133.30.109.22"}    # backup ("dennou") serves no user


def test_the_dns_servers_are_old_and_new_before_then_after(lab):
    assert sites.dns_servers(lab) == ("198.18.0.22", "198.18.0.21")


def test_a_right_dns_answer_is_the_names_address_before_or_after_the_swap(lab):
    assert sites.dns_expectation(lab, f"itpass.{SITE}") == ({"198.18.0.22"}, False)
    # the alias moves with new
    assert sites.dns_expectation(lab, f"new-itpass.{SITE}.") == ({"198.18.0.21", "198.18.0.22"}, False)
    assert sites.dns_expectation(lab, f"OLD-itpass.{SITE}") == ({"198.18.0.21"}, True)   # only exists after the swap


def test_the_fallback_is_the_address_of_the_role_serving_the_name_now(lab):
    for swapped in (False, True, None):
        assert sites.fallback_address(lab, f"itpass.{SITE}", swapped) == "198.18.0.22"   # old before, new after: same address
    assert sites.fallback_address(lab, f"new-itpass.{SITE}", False) == "198.18.0.21"
    assert sites.fallback_address(lab, f"new-itpass.{SITE}", True) == "198.18.0.22"
    assert sites.fallback_address(lab, f"new-itpass.{SITE}", None) == "198.18.0.22"   # unknown: as after the swap
    assert sites.fallback_address(lab, f"old-itpass.{SITE}", False) == "198.18.0.21"   # no before address: the after one
    assert sites.fallback_address(lab, "www.example.org", True) == ""


def test_the_lab_plan_has_every_service(lab):
    targets, skipped = sites.plan(lab)
    assert skipped == []
    by = {s: [t for t in targets if t.service == s] for s in sites.SERVICES}
    assert [(t.label, t.address) for t in by["http"]] == [("http://198.18.0.22/", "198.18.0.22")]
    assert len(by["dns"]) == 2 * len(lab.checks.dns)
    assert {t.address for t in by["dns"]} == {"198.18.0.21", "198.18.0.22"}
    assert [(t.label, t.name) for t in by["pop"]] == [(f"yasuda@itpass.{SITE}", f"itpass.{SITE}")]
    assert [(t.label, t.name, t.mx) for t in by["smtp"]] == [(f"yasuda@itpass.{SITE}", f"itpass.{SITE}", True)]


def test_the_seed_without_a_pop_user_watches_no_mail(seed):
    targets, skipped = sites.plan(seed)
    assert {t.service for t in targets} == {"http", "dns"}
    assert skipped == ["pop, smtp: checks.pop_user is empty"]
    assert [t.name for t in targets if t.service == "http"] == [f"itpass.{SITE}"]   # resolved through the site's DNS


def test_a_url_at_an_address_hosts_toml_does_not_list_is_refused(lab):
    bad = lab.replace(checks={"http_urls": ("http://10.1.2.3/",)})
    with pytest.raises(sites.WatchError, match=r"checks.http_urls: 'http://10.1.2.3/' is at 10.1.2.3.*refusing"):
        sites.plan(bad)


@pytest.mark.parametrize("answer, ok, seen", [
    (Answer("NOERROR", ("198.18.0.22",), True), True, "198.18.0.22"),
    (Answer("NOERROR", ("198.18.0.23",), True), False, "198.18.0.23: 198.18.0.23 is not"),
    (Answer("NOERROR", ("198.18.0.22",), False), False, "198.18.0.22 (not authoritative)"),
    (Answer("NXDOMAIN", (), True), False, "NXDOMAIN: the name must have an address"),
    (Answer("SERVFAIL", (), False), False, "answers SERVFAIL"),
])
def test_judge_dns(answer, ok, seen):
    result = judge_dns(answer, frozenset({"198.18.0.22"}), False)
    assert result[0] is ok and result[1].startswith(seen)


def test_judge_dns_a_name_that_may_be_absent():
    assert judge_dns(Answer("NXDOMAIN", (), True), frozenset({"198.18.0.21"}), True) == (True, "NXDOMAIN")
    assert judge_dns(Answer("NOERROR", (), True), frozenset({"198.18.0.21"}), True) == (True, "no A record")


def test_the_resolver_falls_back_to_hosts_toml_and_says_so(lab, tmp_path):
    resolver = probes.SiteResolver(lab, tmp_path / "journal.jsonl")
    assert resolver.lookup(f"itpass.{SITE}") == ("198.18.0.22", "hosts.toml")
    address, why = resolver.lookup("www.example.org")
    assert address == "" and why.startswith("no address for www.example.org")
