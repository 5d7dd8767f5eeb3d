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
from .watch import WatchConfig, start_watch, summary_lines, users_view

HELP = {
    "for": "stop after SECONDS (default: at Ctrl-C; a run never exceeds 6 hours)",
    "rate": "probes a second per target (default 5, at most 50)",
    "timeout": "seconds per connection of a probe (default 1)",
    "mail-every": "a new tagged message every SECONDS (default 1; RCPT-only sessions between)",
    "max-messages": "tagged messages sent at most (default 1000)",
    "marker": "text the web page must contain (default checks.http_marker)",
    "ledger": "read new's mailbox over POP at the end for the mail ledger (default on; --no-ledger)",
}


def _config(settings, for_, rate, timeout, mail_every, max_messages, marker) -> WatchConfig:
    """The watch settings: defaults, the hosts file's [watch] section if any, then the flags given."""
    def number(value, kind=float):
        return None if value is None else kind(value)

    return WatchConfig.from_settings(settings, seconds=number(for_), rate=number(rate), timeout=number(timeout),
                                     mail_every=number(mail_every), max_messages=number(max_messages, int), http_marker=marker)


@task(help=HELP, auto_shortflags=False)
def watch(c, for_=None, rate=None, timeout=None, mail_every=None, max_messages=None, marker=None, ledger=True):
    """Watch (operator's machine): http, dns, pop, smtp probed like users do, 5/s per target, into <journal>.watch.jsonl."""
    session = session_mod.current(getattr(c, "config", None))
    settings, out = session.settings, session.out
    try:
        config = _config(settings, for_, rate, timeout, mail_every, max_messages, marker)
        watcher = start_watch(settings, settings.operator.journal, config=config)
    except (ValueError, OSError) as exc:      # WatchError is a ValueError, as is a flag that is not a number
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
