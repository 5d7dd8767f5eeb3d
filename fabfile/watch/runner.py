"""The watcher: one thread per target probing at a fixed rate, every probe a JSON line beside the journal.

Threads, not asyncio: the protocol clients of fabfile.checks are blocking
(http.client, poplib, smtplib, dnspython's sync query), and one thread per
target keeps one hung server from slowing the probes of another. Each lane
probes on a fixed schedule (`rate` per second, no catch-up burst after a
slow probe, so a probe waiting on a dead address delays only its own lane
by at most `timeout`). A resolver thread keeps the public names' addresses
(probes.SiteResolver). Bounded: `seconds` (--for) and a hard cap on the run
time and on the lines written, whatever is asked.

The lines (`<journal>.watch.jsonl`): a start record, one line per probe
(time, watch, service, target, address, via, ok, latency, detail; dns
adds group, the name asked; smtp adds kind, tag, attempt, outcome, rcpt), a stop record (why, seconds,
probes and rates per service, the watcher's CPU). No secret and no
message body is ever written; each line also passes a filter for the POP
secret and the project's secret filter.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..journal import now_iso
from ..output import redact
from . import probes, sites
from .sites import WatchError

MAX_RATE = 50.0


@dataclass(frozen=True)
class WatchConfig:
    """How hard and how long the watcher probes (the defaults are the issue's: 5 probes a second per target)."""

    rate: float = 5.0               # probes per second, per target
    seconds: float = 0.0            # --for; 0 = until stopped
    max_seconds: float = 6 * 3600   # hard cap on a run, whatever `seconds` says
    max_probes: int = 1_000_000     # hard cap on lines written (about 200 MB)
    timeout: float = 1.0            # seconds per connection of a probe
    http_marker: str | None = None  # None = checks.http_marker
    mail_every: float = 1.0         # a new tagged message every so many seconds (RCPT-only probes between)
    max_messages: int = 1000
    first_retry: float = 1.0        # the sender's back-off: doubling from this ...
    max_retry: float = 30.0         # ... up to this
    give_up_after: float = 3600.0   # then the message is given up (bounced)
    drain_seconds: float = 30.0     # after the stop, queued messages are still retried this long
    resolve_every: float = 1.0      # the public names are asked of the site's DNS this often
    ports: dict = field(default_factory=dict)   # {"dns"|"pop"|"smtp": port} (tests); http's is the URL's

    @classmethod
    def from_settings(cls, settings, **overrides) -> "WatchConfig":
        """The defaults, then the hosts file's [watch] section (when the schema has one), then `overrides` (flags)."""
        section = getattr(settings, "watch", None)
        names = [f.name for f in dataclasses.fields(cls) if f.name != "ports"]
        values = {n: getattr(section, n) for n in names if section is not None and hasattr(section, n)}
        if values.get("http_marker") == "":
            values["http_marker"] = None          # a section's "" = checks.http_marker
        return cls(**(values | {k: v for k, v in overrides.items() if v is not None}))

    def check(self) -> None:
        if not 0 < self.rate <= MAX_RATE:
            raise WatchError(f"watch rate {self.rate:g}: must be more than 0 and at most {MAX_RATE:g} probes a second")
        if self.seconds < 0 or self.max_seconds <= 0 or self.timeout <= 0 or self.mail_every <= 0:
            raise WatchError("watch: --for must be >= 0; max_seconds, timeout and mail_every > 0")

    def limit(self) -> float:
        return min(self.seconds, self.max_seconds) if self.seconds else self.max_seconds


def watch_path(journal_path) -> Path:
    """Where the probe lines go: beside the journal, `<journal>.watch.jsonl`."""
    return Path(f"{journal_path}.watch.jsonl")


class ProbeLog:
    """The JSON-lines file, written by every lane under one lock; False once the line cap is reached."""

    def __init__(self, path: Path, secrets=(), limit: int = 1_000_000):
        self.path, self.limit, self.count = Path(path), limit, 0
        self.secrets = [s for s in secrets if s]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._synced = time.monotonic()

    def write(self, record: dict, meta: bool = False) -> bool:
        line = json.dumps(record, ensure_ascii=False)
        for secret in self.secrets:
            line = line.replace(secret, "[secret]")
        line = redact(line)
        with self._lock:
            if not meta and self.count >= self.limit:
                return False
            self._fh.write(line + "\n")
            self._fh.flush()
            self.count += 0 if meta else 1
            if meta or time.monotonic() - self._synced > 1.0:
                os.fsync(self._fh.fileno())
                self._synced = time.monotonic()
        return True

    def close(self) -> None:
        with self._lock:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


class Lane:
    """One target, probed `rate` times a second by its own thread until the watcher stops."""

    def __init__(self, watcher: "Watcher", target: sites.Target, probe, offset: float):
        self.watcher, self.target, self.probe, self.offset = watcher, target, probe, offset
        self.count = 0
        self.cpu = 0.0
        self.thread = threading.Thread(target=self.run, name=f"watch-{target.service}", daemon=True)

    def address(self) -> tuple[str, str]:
        if self.target.address:
            return self.target.address, "fixed"
        return self.watcher.resolver.lookup(self.target.name, self.target.mx)

    def once(self, draining: bool = False) -> dict | None:
        """One probe as its line (None: the smtp lane, draining, had nothing due)."""
        start, stamp = time.monotonic(), now_iso()
        address, via = self.address()
        if not address:
            result = (False, via, {})
        elif address not in self.watcher.listed:
            result = (False, f"refused: {address} is not an address of old or new in hosts.toml", {})
        else:
            result = self.probe(address, start, draining)
        if result is None:
            return None
        ok, detail, extra = result
        group = {"group": self.target.group} if self.target.group else {}
        return dict(time=stamp, watch=self.watcher.run, service=self.target.service, target=self.target.label, **group,
                    address=address, via=via, ok=bool(ok), latency=round(time.monotonic() - start, 4), detail=str(detail)[:200],
                    **extra)

    def run(self) -> None:
        w, period = self.watcher, 1.0 / self.watcher.config.rate
        due = time.monotonic() + self.offset
        try:
            while not w.stop_flag.wait(max(0.0, due - time.monotonic())) and not w.expired():
                record = self.once()
                if record is not None and not w.log.write(record):
                    w.halt("the probe-line cap was reached")
                    break
                self.count += record is not None
                due = max(due + period, time.monotonic())
            if self.target.service == "smtp":
                self.drain()
        finally:
            self.cpu = time.thread_time()

    def drain(self) -> None:
        """After the stop: retry the messages still queued (no new ones) until none is left or drain_seconds pass."""
        w = self.watcher
        end = time.monotonic() + w.config.drain_seconds
        while w.outbox.queue and time.monotonic() < end:
            record = self.once(draining=True)
            if record is None:
                time.sleep(min(0.2, max(0.0, end - time.monotonic())))
                continue
            if not w.log.write(record):
                break
            self.count += 1


class Watcher:
    """Probes the site's services like its users do, from start() to stop() (or --for, or a hard cap)."""

    def __init__(self, settings, journal_path, config: WatchConfig | None = None, stop_event: threading.Event | None = None):
        self.settings, self.config = settings, config or WatchConfig()
        self.config.check()
        self.run = uuid.uuid4().hex[:8]
        self.journal_path, self.path = journal_path, watch_path(journal_path)
        self.targets, self.skipped = sites.plan(settings)
        self.listed = sites.listed_addresses(settings)
        self.stop_event, self.stop_flag = stop_event, threading.Event()
        ports = self.config.ports
        self.resolver = probes.SiteResolver(settings, journal_path, timeout=min(self.config.timeout, 0.5),
                                            refresh=self.config.resolve_every, port=ports.get("dns", 53))
        c = self.config
        self.outbox = probes.Outbox(self.run, every=c.mail_every, limit=c.max_messages, first_retry=c.first_retry,
                                    max_retry=c.max_retry, give_up_after=c.give_up_after)
        spacing = 1.0 / (c.rate * max(len(self.targets), 1))
        self.lanes = [Lane(self, t, self._probe_for(t), i * spacing) for i, t in enumerate(self.targets)]
        self.why = ""
        self.log: ProbeLog | None = None
        self._started = self._deadline = 0.0
        self._rusage = None
        self._resolver_thread = threading.Thread(target=self._resolve, name="watch-resolver", daemon=True)
        self._resolver_cpu = 0.0

    def _probe_for(self, target: sites.Target):
        cfg, c, ports = self.settings.checks, self.config, self.config.ports
        if target.service == "http":
            marker = cfg.http_marker if c.http_marker is None else c.http_marker
            return lambda address, now, draining: probes.http_probe(target, address, marker, c.timeout)
        if target.service == "dns":
            expectation = sites.dns_expectation(self.settings, target.qname)
            return lambda address, now, draining: probes.dns_probe(target, expectation, c.timeout, ports.get("dns", 53))
        if target.service == "pop":
            return lambda address, now, draining: probes.pop_probe(address, cfg, c.timeout, ports.get("pop", 110))
        smtp = probes.SmtpProber(self.settings, self.outbox, c.timeout, ports.get("smtp", 25))
        return smtp.probe

    def _resolve(self) -> None:
        try:
            self.resolver.run(self.stop_flag)
        finally:
            self._resolver_cpu = time.thread_time()

    def expired(self) -> bool:
        if self.stop_flag.is_set() or (self.stop_event is not None and self.stop_event.is_set()):
            return True
        if time.monotonic() >= self._deadline:
            self.why = self.why or ("--for reached" if self.config.seconds and self.config.seconds <= self.config.max_seconds
                                    else "the hard cap on the run time was reached")
            return True
        return False

    def halt(self, why: str) -> None:
        self.why = self.why or why
        self.stop_flag.set()

    def start(self) -> "Watcher":
        """Resolve the public names once, write the start record, start the resolver and one thread per target."""
        for t in self.targets:
            if t.name:
                self.resolver.want(t.name, t.mx)
        self.resolver.refresh_all()
        self.log = ProbeLog(self.path, (self.settings.checks.pop_password,), self.config.max_probes)
        config = {k: v for k, v in asdict(self.config).items() if k != "ports"}
        self.log.write(dict(time=now_iso(), watch=self.run, event="start", config=config, targets=[t.label for t in self.targets],
                            skipped=self.skipped, dns_servers=list(self.resolver.servers), listed=sorted(self.listed)), meta=True)
        self._started, self._rusage = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        self._deadline = self._started + self.config.limit()
        self._resolver_thread.start()
        for lane in self.lanes:
            lane.thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends by itself (--for, a cap, the stop event) or `timeout` passes; True if it ended."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.expired() and any(lane.thread.is_alive() for lane in self.lanes):
            if end is not None and time.monotonic() >= end:
                return False
            self.stop_flag.wait(0.2)
        return True

    def stop(self, why: str = "stopped") -> dict:
        """Stop every lane (the smtp lane drains its queue first), write the stop record; the record."""
        self.halt(why)
        join = self.config.timeout * 8 + self.config.drain_seconds + 5
        for lane in self.lanes:
            lane.thread.join(join)
        self._resolver_thread.join(self.config.timeout * 4 + 2)
        record = self.stop_record()
        if self.log is not None:
            self.log.write(record, meta=True)
            self.log.close()
        return record

    def users_view(self, wait: float | None = None, pop_address: str = "") -> dict:
        """This run's users' view, the mailbox read over POP where users read it now (the site's address: new's
        after the swap), waiting up to checks.mail_wait for the last accepted messages to arrive."""
        from .mailbox import site_view

        wait = self.settings.checks.mail_wait if wait is None else wait
        pop_address = pop_address or self.resolver.lookup(sites.site_name(self.settings))[0]
        return site_view(self.settings, self.journal_path, run=self.run, wait=wait, port=self.config.ports.get("pop", 110),
                         pop_address=pop_address)

    def stop_record(self) -> dict:
        """Why and when the run ended, probes and rate per service, and the watcher's own CPU (its threads)."""
        wall = max(time.monotonic() - self._started, 1e-9)
        counts: dict[str, list[int]] = {}
        for lane in self.lanes:
            counts.setdefault(lane.target.service, []).append(lane.count)
        cpu = sum(lane.cpu for lane in self.lanes) + self._resolver_cpu
        usage = resource.getrusage(resource.RUSAGE_SELF)
        process = (usage.ru_utime + usage.ru_stime - self._rusage.ru_utime - self._rusage.ru_stime) if self._rusage else 0.0
        return dict(time=now_iso(), watch=self.run, event="stop", why=self.why, seconds=round(wall, 2),
                    probes={s: sum(n) for s, n in counts.items()},
                    rate_per_target={s: round(sum(n) / len(n) / wall, 2) for s, n in counts.items()},
                    cpu_seconds=round(cpu, 3), cpu_percent=round(100 * cpu / wall, 2), process_cpu_seconds=round(process, 3),
                    messages=self.outbox.created, pending=self.outbox.waiting(), answers_ignored=self.resolver.ignored)


def start_watch(settings, journal_path, stop_event: threading.Event | None = None, config: WatchConfig | None = None) -> Watcher:
    """A started watcher; it ends when `stop_event` is set, at --for or a cap; call .stop() to finish its file."""
    return Watcher(settings, journal_path, config, stop_event).start()


@contextmanager
def watching(settings, journal_path, config: WatchConfig | None = None, stop_event: threading.Event | None = None):
    """`with watching(settings, journal) as w:` probes for the whole block; the file is complete after it."""
    watcher = start_watch(settings, journal_path, stop_event, config)
    try:
        yield watcher
    finally:
        watcher.stop()
