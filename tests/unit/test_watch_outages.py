"""Outages as users saw them, from synthetic probe logs: edges, interleaved targets, the union per service."""

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from fabfile.watch import outages

T0 = datetime(2009, 10, 23, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def probe(t, ok, service="http", target="http://itpass/", run="r1"):
    return {"time": at(t), "watch": run, "service": service, "target": target, "address": "198.18.0.22", "ok": ok,
            "latency": 0.01, "detail": "" if ok else "connection refused"}


def series(pattern: str, service="http", target="http://itpass/", step=0.2, start=0.0):
    """One probe per character: '.' ok, 'x' failed, `step` seconds apart."""
    return [probe(start + i * step, c == ".", service, target) for i, c in enumerate(pattern)]


def view(records):
    return {s["service"]: s for s in outages.analyse(records)["services"]}


def test_no_failure_no_outage():
    s = view(series("....."))["http"]
    assert s == {"service": "http", "outages": [], "total": 0, "probes": 5}


def test_an_outage_runs_from_the_first_failure_to_the_next_success():
    s = view(series("..xxx.."))["http"]
    assert s["outages"] == [(at(0.4), at(1.0), 0.6)] and s["total"] == 0.6


def test_an_outage_at_the_start_begins_at_the_first_probe():
    s = view(series("xx..."))["http"]
    assert s["outages"] == [(at(0), at(0.4), 0.4)]


def test_an_outage_at_the_end_ends_at_the_last_probe_and_is_open():
    result = outages.analyse(series("...xxx"))
    assert result["services"][0]["outages"] == [(at(0.6), at(1.0), 0.4)]
    assert result["open"] == ["http"]
    assert outages.analyse(series("..x."))["open"] == []


def test_one_failed_probe_is_an_outage_of_one_probe_interval():
    assert view(series("..x.."))["http"]["outages"] == [(at(0.4), at(0.6), 0.2)]


def test_interleaved_targets_are_judged_each_on_its_own_probes():
    # A fails 1.0-2.0 while B answers at every probe in between: B's successes do not end A's outage.
    a = series("xxxxx.", "dns", "itpass @ .22", step=0.2, start=1.0)
    b = series("......", "dns", "itpass @ .21", step=0.2, start=1.1)
    s = view(a + b)["dns"]
    assert s["outages"] == [(at(1.0), at(2.0), 1.0)] and s["probes"] == 12


def test_a_service_is_out_while_any_target_is_out_overlaps_merged():
    a = series("..xxxx....", "dns", "a", step=0.2)        # out 0.4-1.2
    b = series("....xxxx..", "dns", "b", step=0.2)        # out 0.8-1.6
    c = series("........x.", "dns", "c", step=0.2)        # out 1.6-1.8: touches b's end
    s = view(a + b + c)["dns"]
    assert s["outages"] == [(at(0.4), at(1.8), 1.4)]
    per_target = {t["target"]: t["total"] for t in outages.analyse(a + b + c)["targets"]}
    assert per_target == {"a": 0.8, "b": 0.8, "c": 0.2}


def test_order_of_the_lines_does_not_matter_and_services_are_apart():
    records = series("..xx..", "http") + series("x.....", "pop", "yasuda@itpass")
    shuffled = list(reversed(records))
    assert outages.analyse(shuffled) == outages.analyse(records)
    assert [s["service"] for s in outages.analyse(records)["services"]] == ["http", "pop"]
    assert view(records)["pop"]["outages"] == [(at(0), at(0.2), 0.2)]


def test_meta_torn_and_foreign_lines_are_skipped_and_the_last_run_is_taken():
    first = [json.dumps(p) for p in series("xx..")]
    second = [json.dumps(dict(p, watch="r2")) for p in series("....", start=10)]
    lines = ([json.dumps({"watch": "r1", "event": "start"})] + first + ['{"time": "torn', "", "[1, 2]"]
             + [json.dumps({"watch": "r2", "event": "start"})] + second + [json.dumps({"watch": "r2", "event": "stop"})])
    records = outages.select_run(outages.parse_lines(lines))
    assert {r["watch"] for r in records} == {"r2"}
    assert view(records)["http"] == {"service": "http", "outages": [], "total": 0, "probes": 4}
    assert view(outages.select_run(outages.parse_lines(lines), "r1"))["http"]["outages"] == [(at(0), at(0.4), 0.4)]


def test_rates_per_service():
    records = series("." * 11, step=0.2) + series("." * 6, "pop", "p", step=0.5)
    assert outages.rates(records) == {"http": 5.0, "pop": 2.0}


@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_intervals_cover_every_failure_and_no_success(pattern):
    records = [probe(i * 0.2, ok) for i, ok in enumerate(pattern)]
    found = outages.probes(records)
    intervals = outages.target_intervals(found)
    for p in found:
        inside = [iv for iv in intervals if iv[0] <= p["_t"] < iv[1] or (iv[2] and iv[0] <= p["_t"] <= iv[1])]
        assert bool(inside) is (not p["ok"]), (pattern, p)
    for start, end, is_open in intervals:
        starts = [p for p in found if p["_t"] == start]
        ends = [p for p in found if p["_t"] == end]
        assert not starts[0]["ok"]
        assert is_open or ends[0]["ok"]
    assert [iv[2] for iv in intervals].count(True) == (1 if not pattern[-1] else 0)


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=20), min_size=1, max_size=4))
def test_a_services_total_lies_between_its_worst_target_and_the_sum(patterns):
    records = [probe(i * 0.2 + k * 0.05, ok, "dns", f"t{k}")
               for k, pattern in enumerate(patterns) for i, ok in enumerate(pattern)]
    result = outages.analyse(records)
    totals = [t["total"] for t in result["targets"]]
    service = result["services"][0]["total"]
    assert max(totals) - 1e-6 <= service <= sum(totals) + 1e-6


def grouped(pattern, server, start=0.0):
    """One DNS name asked of one server: the targets of a name are alternatives (group = the name)."""
    return [dict(p, group="itpass") for p in series(pattern, "dns", f"itpass @ {server}", start=start)]


def test_a_name_is_out_only_while_every_dns_server_fails_it():
    one_down = grouped("..xxxxxx..", ".21") + grouped("..........", ".22", start=0.05)
    assert view(one_down)["dns"]["outages"] == []                         # a resolver asks the other server
    per_target = {t["target"]: len(t["outages"]) for t in outages.analyse(one_down)["targets"]}
    assert per_target == {"itpass @ .21": 1, "itpass @ .22": 0}          # the server's own outage is still in the data
    both = grouped("..xxxxxx..", ".21") + grouped("....xxxxxx", ".22", start=0.05)
    result = outages.analyse(both)
    assert result["services"][0]["outages"] == [(at(0.85), at(1.6), 0.75)] and result["open"] == []


def test_an_outage_open_on_every_server_stays_open():
    both = grouped("......xxxx", ".21") + grouped(".......xxx", ".22", start=0.05)
    result = outages.analyse(both)
    assert result["services"][0]["outages"] == [(at(1.45), at(1.85), 0.4)] and result["open"] == ["dns"]
