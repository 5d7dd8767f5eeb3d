"""Z1/A2 logic: zone names for named-checkzone, TTL + serial edits, the namedb backup name."""

import datetime

import pytest

from fabfile.edit import EditError
from fabfile.ops import zones
from zone_samples import LAB_ZONE, NAMED_CONF  # noqa: E402

TODAY = datetime.date(2009, 10, 23)




def test_retime_sets_ttl_and_bumps_the_serial_once():
    out = zones.retime(LAB_ZONE, 300, TODAY)
    assert "$TTL 300\n" in out and "2009102300\t; serial" in out
    assert zones.retime(out, 300, TODAY) == out  # second run: unchanged, no second bump


def test_retime_back_to_normal_bumps_again():
    lowered = zones.retime(LAB_ZONE, 300, TODAY)
    restored = zones.retime(lowered, 3600, TODAY + datetime.timedelta(days=7))
    assert "$TTL 3600" in restored and "2009103000" in restored


def test_zone_name_prefers_the_file_then_named_conf_then_refuses():
    path = "/usr/local/bind/etc/namedb/localhost.zone"
    assert zones.zone_name("$ORIGIN a.example.\n@ IN SOA ns. r. 1 2 3 4 5\n", path, NAMED_CONF) == "a.example"
    assert zones.zone_name(LAB_ZONE, path, NAMED_CONF) == "scitec.kobe-u.ac.jp"
    with pytest.raises(EditError, match=r"add `\$ORIGIN"):
        zones.zone_name(LAB_ZONE, path, None)


def test_dated_backup_name_is_the_seeds():
    assert zones.dated_name("namedb", TODAY) == "namedb-20091023"
    assert zones.parse_date("2009-10-23\n") == TODAY


class FakeHost:
    """Files in a dict; commands recorded; probes answered from a table."""

    def __init__(self, files, answers=None, dry=False):
        self.files, self.answers, self.dry = dict(files), answers or {}, dry
        self.alias, self.ran, self.said, self.edits, self.records = "new", [], [], [], []

    def exists(self, path):
        return path in self.files

    def read_text(self, path):
        return self.files[path]

    def probe(self, command, warn=True, timeout=None):
        from types import SimpleNamespace

        from fabfile.commands import render
        for key, (ok, out) in self.answers.items():
            if key in render(command):
                return SimpleNamespace(ok=ok, stdout=out, stderr="", exited=0 if ok else 1)
        raise AssertionError(f"unexpected probe {command}")

    def check(self, command):
        return self.probe(command).ok

    def change(self, command, what=None, **kw):
        from fabfile.commands import shown
        (self.said if self.dry else self.ran).append(what or shown(command))

    def say(self, message):
        self.said.append(message)

    def record(self, event, **fields):
        self.records.append((event, fields))

    def edit(self, path, transform, validate=None, **kw):
        from fabfile.remote import EditResult
        after = transform(self.files[path])
        changed = after != self.files[path]
        self.edits.append((path, validate, changed))
        if changed and not self.dry:
            self.files[path] = after
        return EditResult(path, changed=changed, dry=self.dry)


class Step:
    def __init__(self):
        from fabfile import settings
        self.settings = settings.load(settings.DEFAULT_HOSTS_FILE)


def test_plan_ttl_names_each_zone_from_named_conf_and_bumps_the_serial():
    from fabfile.edit import namedconf

    d = "/usr/local/bind/etc/namedb"
    host = FakeHost({f"{d}/localhost.zone": LAB_ZONE, f"{d}/localhost.rev": LAB_ZONE.replace("@\tIN", "109.30.133.in-addr.arpa.\tIN")})
    conf = namedconf.parse(NAMED_CONF, "/usr/local/bind/etc/named.conf", start_dir="/usr/local/bind/etc")
    zone, plan, files = zones.plan_ttl(Step(), host, f"{d}/localhost.zone", 300, conf, TODAY, lower=True)
    assert zone == "scitec.kobe-u.ac.jp" and list(files) == [f"{d}/localhost.zone"] and "2009102300" in files[f"{d}/localhost.zone"]
    assert zones.plan_ttl(Step(), host, f"{d}/localhost.rev", 300, conf, TODAY, lower=True)[0] == "109.30.133.in-addr.arpa"
    host.files[f"{d}/localhost.zone"] = files[f"{d}/localhost.zone"]
    assert zones.plan_ttl(Step(), host, f"{d}/localhost.zone", 300, conf, TODAY, lower=True)[2] == {}   # by value: unchanged


def test_set_ttl_without_named_checkzone_stops_before_any_edit():
    d = "/usr/local/bind/etc/namedb"
    host = FakeHost({f"{d}/localhost.zone": LAB_ZONE},
                    {"date +%F": (True, "2009-10-23\n"), "named-checkzone": (False, "")})
    with pytest.raises(Exception, match="named-checkzone is not installed"):
        zones.set_ttl(Step(), host, 300)
    assert host.edits == []


def test_backup_data_once_a_day():
    etc = "/usr/local/bind/etc"
    host = FakeHost({f"{etc}/namedb": ""}, {"date +%F": (True, "2009-10-23\n")})
    assert zones.backup_data(Step(), host) == f"{etc}/namedb-20091023"
    assert host.ran == [f"cp -a {etc}/namedb {etc}/namedb-20091023"]
    host.files[f"{etc}/namedb-20091023"] = ""
    host.ran.clear()
    zones.backup_data(Step(), host)
    assert host.ran == [] and host.records[-1][0] == "unchanged"
