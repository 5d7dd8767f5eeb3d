"""hosts.toml validation: every problem reported at once, one line each, naming the key."""

import tomllib
from pathlib import Path

import pytest

from fabfile import settings

SHIPPED = Path(__file__).resolve().parents[2] / "hosts.toml"


def raw():
    return tomllib.loads(SHIPPED.read_text())


def problems_of(data):
    with pytest.raises(settings.SettingsError) as info:
        settings.parse(data, SHIPPED)
    return info.value.problems


def test_shipped_file_carries_the_seed():
    s = settings.load(SHIPPED)
    assert s.by_role("old").before.hostname == "itpass"
    assert s.by_role("new").after.ip == "133.30.109.22"
    assert s.accounts.uid_min == 1000 and s.accounts.uid_max == 29999
    assert s.rsync.excludes == ("chikuwa*", "aquota.user", "gate")
    assert s.network.restart == ("/etc/init.d/networking", "restart")


def test_addresses_follow_the_swap():
    s = settings.load(SHIPPED)
    old, new = s.by_role("old"), s.by_role("new")
    assert old.address_for(False) == "133.30.109.22" and old.address_for(True) == "133.30.109.21"
    assert new.address_for(False) == "133.30.109.21" and new.address_for(True) == "133.30.109.22"
    backup = s.by_role("backup")
    assert backup.address_for(True) == backup.address == "dennou"


def test_relative_paths_resolve_against_the_file(tmp_path):
    data = raw()
    data["operator"]["journal"] = "state/j.jsonl"
    s = settings.parse(data, tmp_path / "hosts.toml")
    assert s.operator.journal == str(tmp_path / "state" / "j.jsonl")


def test_unknown_key_and_wrong_type_are_both_reported():
    data = raw()
    data["rsync"]["exclude"] = ["x"]
    data["accounts"]["uid_min"] = "1000"
    found = problems_of(data)
    assert any(p.startswith("rsync.exclude: unknown key") for p in found)
    assert any(p.startswith("accounts.uid_min: must be an integer") for p in found)


def test_missing_host_and_duplicate_role():
    data = raw()
    del data["hosts"]["new"]
    data["hosts"]["backup"]["role"] = "old"
    found = problems_of(data)
    assert any("no host has role 'new'" in p for p in found)
    assert any("'old' is also the role of hosts.old" in p for p in found)


def test_after_ip_equal_to_another_hosts():
    data = raw()
    data["hosts"]["new"]["after"]["ip"] = data["hosts"]["old"]["after"]["ip"]
    found = problems_of(data)
    assert any(p.startswith("hosts.new.after.ip:") and "hosts.old" in p for p in found)


def test_bad_ip_and_unknown_identity_key():
    data = raw()
    data["hosts"]["old"]["after"]["ip"] = "133.30.109.300"
    data["hosts"]["new"]["before"]["name"] = "x"
    found = problems_of(data)
    assert any(p.startswith("hosts.old.after.ip:") for p in found)
    assert any(p.startswith("hosts.new.before:") and "name" in p for p in found)


def test_missing_section_and_required_key():
    data = raw()
    del data["qmail"]
    del data["ttl"]["lowered"]
    found = problems_of(data)
    assert "[qmail]: missing section" in found
    assert "ttl.lowered: missing (required)" in found


def test_broken_toml_is_one_line(tmp_path):
    path = tmp_path / "hosts.toml"
    path.write_text("[hosts.old\nrole = 'old'\n")
    with pytest.raises(settings.SettingsError) as info:
        settings.load(path)
    assert len(str(info.value).splitlines()) == 1
    assert "not valid TOML" in str(info.value)


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(settings.SettingsError, match="SERVERSWAP_HOSTS"):
        settings.load(tmp_path / "nope.toml")


def test_env_var_picks_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("SERVERSWAP_HOSTS", str(tmp_path / "x.toml"))
    assert settings.hosts_file_path() == tmp_path / "x.toml"


def test_unknown_alias_lists_the_known_ones():
    s = settings.load(SHIPPED)
    with pytest.raises(settings.SettingsError, match="use one of old, new, backup"):
        s.host("olld")


def test_every_schema_key_is_in_the_shipped_file_or_has_a_default():
    import dataclasses

    data = raw()
    for section, cls in settings.SECTIONS.items():
        for f in dataclasses.fields(cls):
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            assert f.name in data.get(section, {}) or has_default, f"{section}.{f.name}"
            assert f.metadata["doc"], f"{section}.{f.name} has no meaning in the schema"


def test_settings_are_frozen():
    s = settings.load(SHIPPED)
    with pytest.raises(Exception):
        s.checks.pop_user = "x"
    assert s.replace(checks={"pop_user": "x"}).checks.pop_user == "x" and s.checks.pop_user == ""


def test_pure_modules_do_not_import_fabric():
    import subprocess
    import sys

    code = "import sys, fabfile.settings, fabfile.edit; assert 'fabric' not in sys.modules and 'invoke' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SHIPPED.parent)


def test_the_readme_configuration_reference_is_the_schema():
    """The README's table is generated from the schema (`inv readme` writes it); they must not drift apart."""
    readme = (SHIPPED.parent / "README.md").read_text()
    begin, end = "<!-- reference: generated from fabfile/schema.py by `inv readme` -->", "<!-- end of reference -->"
    assert begin in readme and end in readme, "the README lost its generated configuration reference"
    table = readme[readme.index(begin) + len(begin):readme.index(end)].strip()
    assert table == settings.schema.reference_table(), "README configuration reference is stale: run `inv readme`"
    for section, cls in settings.SECTIONS.items():
        assert all(f"`{section}.{name}`" in table for name in cls.__dataclass_fields__)


@pytest.mark.parametrize("section, key, value, words", [
    ("rsync", "source", "/home", "no trailing slash"),
    ("rsync", "dest", "/home", "no trailing slash"),
    ("ttl", "zone_files", ["../../etc/passwd"], "not a file inside ttl.zone_dir"),
    ("ttl", "zone_files", ["/etc/shadow"], "not a file inside ttl.zone_dir"),
    ("stop_services", "mail", ["qmail", "ssh"], "is sshd"),
    ("disable_services", "services", ["apache2", "sshd.service"], "is sshd"),
    ("identity", "files", ["/etc/hosts", "../etc/x"], "absolute path without .."),
    ("bind", "data_dir", "../namedb", "one directory name"),
])
def test_dangerous_settings_are_refused_with_the_fix(section, key, value, words):
    data = raw()
    data[section][key] = value
    found = problems_of(data)
    assert any(p.startswith(f"{section}.{key}") and words in p for p in found), found


def test_a_value_reaches_the_host_as_one_argument_never_as_shell():
    from fabfile.commands import Script, render

    hostile = "/var/backups; rm -rf / #  $(reboot)"
    assert render(["cp", "-a", "--", hostile, "/etc/x"]) == "cp -a -- '/var/backups; rm -rf / #  $(reboot)' /etc/x"
    line = render(Script('cd "$1" && exec "$@"', hostile, "true"))
    import shlex

    assert shlex.split(line) == ["sh", "-c", 'cd "$1" && exec "$@"', "sh", hostile, "true"]
    with pytest.raises(TypeError):
        render(f"cp {hostile} /etc/x")
