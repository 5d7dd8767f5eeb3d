"""`fab watch`: the site's services probed from outside, the way its users' clients ask, beside the night.

Runs on the operator's machine (or a third one with the same hosts file)
for as long as the swap takes: Ctrl-C or --for stops it. The probes go to
the JSON-lines file beside the journal (fabfile/watch/runner.py); at the
end the outages per service and, after reading new's mailbox over POP,
the mail ledger are printed. `fab rehearse` runs the same watcher for the
whole rehearsal (fabfile.watch.watching).
"""

from __future__ import annotations

from fabric import task
from invoke.exceptions import Exit

from . import session as session_mod
from .watch import WatchConfig, WatchError, start_watch, summary_lines, users_view

HELP = {
    "for": "stop after SECONDS (default: at Ctrl-C; a run never exceeds 6 hours)",
    "rate": "probes a second per target (default 5, at most 50)",
    "timeout": "seconds per connection of a probe (default 1)",
    "mail-every": "a new tagged message every SECONDS (default 1; RCPT-only sessions between)",
    "max-messages": "tagged messages sent at most (default 1000)",
    "marker": "text the web page must contain (default checks.http_marker)",
    "ledger": "read new's mailbox over POP at the end for the mail ledger (default on; --no-ledger)",
}


def _config(for_, rate, timeout, mail_every, max_messages, marker) -> WatchConfig:
    return WatchConfig(rate=float(rate), seconds=float(for_), timeout=float(timeout), mail_every=float(mail_every),
                       max_messages=int(max_messages), http_marker=marker)


@task(help=HELP)
def watch(c, for_=0.0, rate=5.0, timeout=1.0, mail_every=1.0, max_messages=1000, marker=None, ledger=True):
    """Watch (operator's machine): http, dns, pop, smtp probed like users do, 5/s per target, into <journal>.watch.jsonl."""
    session = session_mod.current(getattr(c, "config", None))
    settings, out = session.settings, session.out
    try:
        watcher = start_watch(settings, settings.operator.journal, config=_config(for_, rate, timeout, mail_every, max_messages, marker))
    except (WatchError, OSError) as exc:
        raise Exit(f"watch: {exc}", code=1) from None
    print(f"watching {len(watcher.targets)} target(s) at {watcher.config.rate:g}/s each into {watcher.path} (run {watcher.run}); "
          "Ctrl-C stops", file=out, flush=True)
    for line in watcher.skipped:
        print(f"  not watched: {line}", file=out, flush=True)
    try:
        watcher.wait()
    except KeyboardInterrupt:
        print("stopping (queued messages are retried for a while)...", file=out, flush=True)
    finally:
        record = watcher.stop()
    view = watcher.users_view() if ledger else users_view(watcher.path.read_text(encoding="utf-8").splitlines(), run=watcher.run)
    print("\n".join(summary_lines(view)), file=out, flush=True)
    print(f"watcher: {record['seconds']:g}s, CPU {record['cpu_seconds']:g}s ({record['cpu_percent']:g}% of one core), "
          f"stopped: {record['why']}", file=out, flush=True)
    return view
