"""The users' view of the night: a watcher probing the site like its users, and the analysis of what it saw.

- runner: `start_watch(settings, journal_path, stop_event)` / `watching(...)`
  run the probes (http, dns, pop, smtp; 5 a second per target) into
  `<journal>.watch.jsonl`;
- outages, ledger, view (pure): the outage intervals per service, the mail
  ledger, `users_view(probe_lines, mailbox_texts)` = the report's slot;
- mailbox: new's mailbox read over POP at the end (`site_view`).

Nothing here imports Fabric: the `fab watch` task is fabfile/watch_tasks.py.
"""

from .mailbox import read_mailbox_pop, site_view
from .runner import WatchConfig, Watcher, start_watch, watch_path, watching
from .sites import WatchError
from .view import problems, summary_lines, users_view

__all__ = ["WatchConfig", "Watcher", "WatchError", "problems", "read_mailbox_pop", "site_view", "start_watch",
           "summary_lines", "users_view", "watch_path", "watching"]
