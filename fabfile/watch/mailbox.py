"""Reading new's mailbox at the end, over POP as the users' client does, for the ledger.

The ledger (ledger.py) needs the recipient's mailbox as it is on new when
the night is over. POP (as checks.pop_user, APOP) reads it the way the
user will; the text is given back as mbox (a From_ line before each
message's headers), the format ledger.mbox_messages reads. Only headers
are fetched (TOP n 0): the tag is a header, bodies are not needed.
"""

from __future__ import annotations

import poplib

from .. import checks as ck
from . import ledger, outages, view


def read_mailbox_pop(address: str, user: str, secret: str, method: str = "apop", timeout: float = 10, *,
                     port: int = poplib.POP3_PORT, delete_run: str = "") -> str:
    """The headers of every message in `user`'s mailbox at `address`, as mbox text.

    delete_run: delete the messages of that watch run once read (the
    watcher's own test messages, after the ledger is made).
    """
    pop, _ = ck._pop_login(address, user, secret, method, timeout, port)
    parts = []
    try:
        count, _ = pop.stat()
        for number in range(1, count + 1):
            try:
                lines = pop.top(number, 0)[1]
            except poplib.error_proto:
                lines = pop.retr(number)[1]
            text = b"\n".join(lines).decode("utf-8", "replace")
            parts.append(f"From watch\n{text}\n\n")
            if delete_run and any((ledger.split_tag(t) or ("", ""))[1] == delete_run for t in ledger.tags_in(text)):
                pop.dele(number)
    finally:
        try:
            pop.quit()
        except (poplib.error_proto, OSError):
            pass
    return "".join(parts)


def sent_tags(records: list[dict]) -> set[str]:
    return {tag for tag, letter in ledger.letters(records).items() if letter.accepted}


def await_delivery(read, records: list[dict], run: str, wait: float, interval: float = 1.0) -> str | None:
    """Read the mailbox until every accepted message of `run` is there or `wait` seconds passed; its last text.

    read(): the mailbox text (raises OSError/poplib.error_proto when it
    cannot be read: tried again). None when it could never be read.
    """
    wanted, text = sent_tags(records), None

    def complete() -> bool:
        nonlocal text
        try:
            text = read()
        except (OSError, poplib.error_proto):
            return False
        found = {tag for box in ledger.found_copies(text, run).values() for tag in box}
        return wanted <= found

    ck.wait_for(complete, wait, interval)
    return text


def site_view(settings, journal_path, *, run: str | None = None, wait: float = 60, port: int = poplib.POP3_PORT,
              pop_address: str = "") -> dict:
    """The users' view of a watch run (the last in the file unless `run`), new's mailbox read over POP at the end.

    pop_address: where the mailbox is read (default: new's address as
    the journal's swap state says). No POP user configured: no ledger.
    """
    from ..journal import Journal
    from .runner import watch_path

    path = watch_path(journal_path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    records = outages.select_run(outages.parse_lines(lines), run)
    run = run or next((r["watch"] for r in reversed(records) if r.get("watch")), "")
    cfg = settings.checks
    if not (cfg.pop_user and ledger.letters(records)):
        return view.users_view(records, None, run=run)
    new = settings.by_role("new")
    address = pop_address or new.address_for(Journal(journal_path).swapped(new.alias) is not False)
    def read() -> str:
        return read_mailbox_pop(address, cfg.pop_user, cfg.pop_password, cfg.pop_method, cfg.timeout, port=port)

    text = await_delivery(read, records, run, wait)
    result = view.users_view(records, text, run=run)
    if result["mail"] is not None:
        result["mail"]["mailbox"] = f"{cfg.pop_user} at {address}"
    return result
