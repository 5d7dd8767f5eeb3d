"""rsync's own words: the summary of a P2/C4 run (``rsync [-n] -av --delete -x --stats``).

The operator reads the dry run for what would be sent and, above all,
deleted: an unexpected deletion means a missing ``--exclude``.  The log
can be 200,000 lines, so the summary is built line by line and keeps only
counts plus the first few names of each class.

The classes are rsync 3.2's own messages (generator.c, delete.c, flist.c,
sender.c, log.c; 3.2.7 in Debian 12, 3.4/3.5 print the same words):
deletions (``deleting`` with -v, ``*deleting`` itemized), "IO error
encountered -- skipping file deletion", "file has vanished" (exit 24),
"cannot delete non-empty directory", "skipping non-regular file",
"send_files failed to open", permission denied, "Deletions stopped due to
--max-delete limit", "some files/attrs were not transferred" (exit 23),
itemized changes (``-i``, and the ``--log-file`` lines) and the
``--stats`` block.  Deletions are checked against "Number of deleted
files"; with itemized lines the transfers and creations are checked too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from . import EditError

_NUMBER = r"([0-9][0-9,.]*)"
_STATS = {
    "files": re.compile(rf"^Number of files: {_NUMBER}"),
    "created": re.compile(rf"^Number of created files: {_NUMBER}"),
    "deleted": re.compile(rf"^Number of deleted files: {_NUMBER}"),
    "reg_transferred": re.compile(rf"^Number of regular files transferred: {_NUMBER}"),
    "total_file_size": re.compile(rf"^Total file size: {_NUMBER}"),
    "transferred_size": re.compile(rf"^Total transferred file size: {_NUMBER}"),
    "total_size": re.compile(rf"^total size is {_NUMBER}"),
}
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] ")  # --log-file lines
_PROGRESS = re.compile(r"^\s+[0-9][0-9,.]*\s+[0-9]+%\s")  # --progress / --info=progress2
_ITEMIZED = re.compile(r"^[<>ch.][fdLDS][ .+?a-zA-Z]{9} ")
_CODE = re.compile(r"^rsync (?:error|warning): .*\(code (\d+)\)")
_MAX_DELETE = re.compile(r"^Deletions stopped due to --max-delete limit \((\d+) skipped\)")
_MESSAGES = [  # (class, how the line starts or what it contains)
    ("deletion_skipped", "IO error encountered -- skipping file deletion"),
    ("vanished", "file has vanished: "),
    ("non_empty_dir_kept", "cannot delete non-empty directory: "),
    ("non_regular_skipped", 'skipping non-regular file "'),
    ("mount_point_kept", "cannot delete mount point: "),
    ("no_referent", "symlink has no referent: "),
]
_IO_ERRORS = re.compile(r"^rsync: (?:\[\w+\] )?(?:opendir|readlink_stat|link_stat|readdir|read errors)")
_SEND_FAILED = re.compile(r"^rsync: (?:\[\w+\] )?send_files failed to open ")
_NOISE = ("sending incremental file list", "receiving incremental file list", "building file list", "sent ",
          "delta-transmission ", "Literal data:", "Matched data:", "File list ", "Total bytes ", "created directory ",
          "Number of ", "Total file size:", "Total transferred file size:", "total size is ", "./", "Ignoring ")
LABELS = {
    "deleted": "deletions", "deletion_skipped": "deletions SKIPPED after an IO error",
    "max_delete_stopped": "deletions stopped by --max-delete",
    "non_empty_dir_kept": "directories kept (not empty: excluded files inside)",
    "mount_point_kept": "mount points kept", "io_error": "IO errors (a listing could not be read)",
    "vanished": "files vanished before they were sent (code 24)", "send_failed": "files that could not be opened",
    "permission_denied": "permission denied", "non_regular_skipped": "special files skipped (no -D)",
    "no_referent": "symlinks without a target", "partial": "some files/attrs not transferred (code 23)",
    "sent": "files to send (itemized)", "created": "new items (itemized)", "changed": "items with changed attributes (itemized)",
    "specials": "FIFOs, sockets and devices (itemized)", "other_error": "other rsync errors",
}


def _to_int(digits: str) -> int:
    """rsync 3.1+ groups digits ("1,234,567"); the locale may use dots."""
    return int(re.sub(r"[,.]", "", digits))


@dataclass
class RsyncSummary:
    """Counts of one rsync run by class; names only for the first few of each.

    `files`, `dirs`, `deletions`, `first_deletions`, `bytes`, `total_size`,
    `errors`, `error_count` and `stats_deletions` are what callers used
    before; `classes` counts every class seen, `stats` holds the --stats
    numbers, `needs_acceptance` lists what the operator must accept.
    """

    files: int = 0
    dirs: int = 0
    deletions: int = 0
    first_deletions: list[str] = field(default_factory=list)
    bytes: int | None = None
    total_size: int | None = None
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    stats_deletions: int | None = None
    classes: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    itemized: bool = False
    dry_run: bool = False
    sparse: bool = False
    max_delete_skipped: int = 0

    def mismatches(self) -> list[str]:
        """Where the listing and --stats disagree (lines lost, or a class not understood)."""
        found = []
        if "deleted" in self.stats and self.stats["deleted"] != self.deletions:
            found.append(f"{self.deletions} deletion line(s) but --stats says {self.stats['deleted']} deleted")
        if not self.itemized:
            return found
        failed = self.classes["send_failed"] + self.classes["vanished"]
        for name, stat in (("sent", "reg_transferred"), ("created", "created")):
            seen, told = self.classes[name], self.stats.get(stat)
            if told is not None and not (seen <= told <= seen + (0 if self.dry_run else failed)):
                found.append(f"{seen} itemized {LABELS[name]} but --stats says {told}")
        return found

    def needs_acceptance(self) -> list[str]:
        """One question per thing the operator must accept before the copy counts as done."""
        asks = [f"accept these {self.deletions} deletions on new?"] if self.deletions else []
        if self.classes["deletion_skipped"] or self.classes["io_error"]:
            asks.append(f"rsync met {self.classes['io_error'] or 'an'} IO error(s) and with --delete then SKIPS deletions "
                        f"(new may keep files old no longer has): accept?")
        for name in ("max_delete_stopped", "non_empty_dir_kept", "mount_point_kept", "vanished", "send_failed",
                     "non_regular_skipped", "no_referent", "other_error"):
            if self.classes[name]:
                asks.append(f"{self.classes[name]} {LABELS[name]} (e.g. {', '.join(self.examples.get(name, [])[:3])}): accept?")
        asks += [f"the listing disagrees with --stats: {text}: accept?" for text in self.mismatches()]
        return asks

    def describe(self) -> list[str]:
        """Short lines for the operator and the journal: each class seen, --stats, sparse handling."""
        lines = [f"{self.files} file(s) and {self.dirs} dir(s) to send, {self.deletions} deletion(s)"]
        if self.bytes is not None:
            lines.append(f"{self.bytes} bytes to transfer")
        if self.total_size is not None:
            lines.append(f"total size {self.total_size} bytes")
        if self.stats:
            lines.append("--stats: " + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in self.stats.items()))
        if self.first_deletions:
            more = self.deletions - len(self.first_deletions)
            lines.append("would delete: " + ", ".join(self.first_deletions) + (f" (+{more} more)" if more else ""))
        for name, count in sorted(self.classes.items()):
            if name != "deleted" and count:
                example = self.examples.get(name, [])
                lines.append(f"{LABELS.get(name, name)}: {count}" + (f" (e.g. {', '.join(example[:3])})" if example else ""))
        if self.error_count:
            lines.append(f"{self.error_count} error line(s): " + " | ".join(self.errors))
        lines.append("sparse files: holes kept on new (--sparse)" if self.sparse else "sparse files: not handled (no --sparse)")
        lines += [f"MISMATCH: {text}" for text in self.mismatches()]
        return lines


def _note(summary: RsyncSummary, name: str, example: str | None, keep: int) -> None:
    summary.classes[name] += 1
    if example is not None and len(summary.examples.setdefault(name, [])) < keep:
        summary.examples[name].append(example)


def _delete(summary: RsyncSummary, name: str, keep: int) -> None:
    summary.deletions += 1
    summary.classes["deleted"] += 1
    if len(summary.first_deletions) < keep:
        summary.first_deletions.append(name)


def _read_stats(summary: RsyncSummary, line: str) -> bool:
    for key, pattern in _STATS.items():
        match = pattern.match(line)
        if match:
            summary.stats[key] = _to_int(match.group(1))
            summary.total_size = summary.stats.get("total_size", summary.total_size)
            summary.bytes = summary.stats.get("transferred_size", summary.bytes)
            summary.stats_deletions = summary.stats.get("deleted", summary.stats_deletions)
            summary.dry_run = summary.dry_run or line.endswith("(DRY RUN)")
            return True
    return False


def _read_error(summary: RsyncSummary, line: str, keep: int) -> bool:
    """rsync: and rsync error/warning: lines (stderr), by class."""
    if not line.startswith(("rsync:", "rsync error", "rsync warning")):
        return False
    summary.error_count += 1
    if len(summary.errors) < keep:
        summary.errors.append(line)
    code = _CODE.match(line)
    if code:
        summary.exit_code = int(code.group(1))
        if summary.exit_code == 23:
            summary.classes["partial"] += 1
        return True
    quoted = re.search(r'"([^"]*)"', line)
    name = quoted.group(1) if quoted else line
    if _SEND_FAILED.match(line):
        _note(summary, "send_failed", name, keep)
    elif _IO_ERRORS.match(line):
        _note(summary, "io_error", name, keep)
    elif "Permission denied" not in line:
        _note(summary, "other_error", line, keep)
    if "Permission denied" in line:
        _note(summary, "permission_denied", name, keep)
    return True


def _read_message(summary: RsyncSummary, line: str, keep: int) -> bool:
    """The informational and warning messages of rsync 3.2 (no "rsync:" prefix)."""
    for name, start in _MESSAGES:
        if line.startswith(start):
            _note(summary, name, line[len(start):].strip('"') or None, keep)
            return True
    stopped = _MAX_DELETE.match(line)
    if stopped:
        summary.max_delete_skipped = int(stopped.group(1))
        _note(summary, "max_delete_stopped", f"{stopped.group(1)} skipped", keep)
        return True
    return False


def _read_item(summary: RsyncSummary, line: str, keep: int) -> None:
    """One itemized line (-i, --log-file): YXcstpoguax NAME."""
    summary.itemized = True
    kind, change, attributes, name = line[0], line[1], line[2:11], line[12:]
    if kind in "<>" and change == "f":
        _note(summary, "sent", name, keep)
    if attributes.strip("+") == "":
        _note(summary, "created", name, keep)
    elif kind == ".":
        _note(summary, "changed", name, keep)
    if change in "DS":
        _note(summary, "specials", name, keep)
    if change == "d":
        summary.dirs += 1
    else:
        summary.files += 1


def _read_name(summary: RsyncSummary, line: str, keep: int) -> None:
    """A -v name line: a deletion, a directory, or a file (symlinks and specials included)."""
    if line.startswith("deleting "):
        _delete(summary, line[len("deleting "):], keep)
    elif line.endswith("/"):
        summary.dirs += 1
    else:
        summary.files += 1


def summarize(lines: Iterable[str], keep_deletions: int = 20, keep_errors: int = 20,
              argv: Iterable[str] | None = None) -> RsyncSummary:
    """Consume rsync's output (stdout+stderr, or its --log-file) once, in constant memory.

    `argv`, the command that produced it, says whether --sparse was on.
    """
    summary = RsyncSummary(sparse=uses_sparse(argv or []))
    for raw in lines:
        line = _LOG_PREFIX.sub("", raw.rstrip("\r\n"), count=1)
        if "\r" in line or not line.strip() or _PROGRESS.match(line):
            continue  # --info=progress2 rewrites its line with \r
        if _read_error(summary, line, keep_errors) or _read_message(summary, line, keep_errors):
            continue
        if line.startswith("*deleting "):
            summary.itemized = True
            _delete(summary, line[12:], keep_deletions)
        elif _ITEMIZED.match(line):
            _read_item(summary, line, keep_errors)
        elif not _read_stats(summary, line) and not line.startswith(_NOISE):
            _read_name(summary, line, keep_deletions)
    return summary


# ---- options ----------------------------------------------------------------------------------------

_SHORT_WITH_ARGUMENT = set("eBfMT")  # rsync short options whose value follows


def _short_letters(argv: Iterable[str]) -> Iterable[str]:
    """Letters of short-option bundles (-avS), up to an option that takes a value."""
    for arg in argv:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            for letter in arg[1:]:
                yield letter
                if letter in _SHORT_WITH_ARGUMENT:
                    break


def uses_sparse(argv: Iterable[str]) -> bool:
    """Is -S/--sparse in effect (the last of --sparse / --no-sparse wins)?"""
    state = False
    for arg in argv:
        if arg in ("--sparse",) or (arg.startswith("-") and not arg.startswith("--") and "S" in _short_letters([arg])):
            state = True
        elif arg in ("--no-sparse", "--no-S"):
            state = False
    return state


def rsync_version(text: str) -> tuple[int, ...]:
    """(3, 2, 7) from `rsync --version` output."""
    match = re.search(r"version\s+(\d+)\.(\d+)\.(\d+)", text)
    if match is None:
        raise EditError("not rsync --version output")
    return tuple(int(part) for part in match.groups())


def sparse_option(argv: Iterable[str], version: tuple[int, ...] | None = None) -> list[str]:
    """What to add to argv so large sparse files keep their holes on the destination.

    `--sparse` (-S): the receiver seeks over runs of zeros instead of writing
    them, into the temporary file it renames over the old one.  It goes with
    every option P2/C4 use (-av --delete -x, -e, --exclude, --info, --log-file,
    --stats, --max-delete).  `version` is the receiving rsync's (new's; pass
    the lower of both ends when unsure).  Refused, one line:
    --inplace/--append with it before 3.3.0 (rsync issue #450: the old bytes
    stay where a trailing hole belongs; measured with Debian 12's 3.2.7, and
    before 3.1.3 rsync rejects the pair), and --preallocate with it (the file
    is right but its holes are allocated: measured with 3.2.7 and 3.5.0).
    [] when sparse handling is on.
    """
    argv = list(argv)
    if uses_sparse(argv):
        return []
    shown = ".".join(map(str, version)) if version else "an unknown version"
    if any(a == "--inplace" or a.startswith("--append") for a in argv) and (version is None or version < (3, 3, 0)):
        raise EditError(f"rsync {shown} with --sparse and --inplace/--append can leave old bytes where holes belong "
                        f"(fixed in 3.3.0); drop --inplace")
    if "--preallocate" in argv:
        raise EditError("--preallocate with --sparse allocates the holes on new (rsync 3.2.7 and 3.5.0); drop --preallocate")
    return ["--sparse"]


def itemize_option(argv: Iterable[str]) -> list[str]:
    """`--itemize-changes` unless present: with it every line says what kind of change it is,
    and the summary checks transfers and creations against --stats, not only deletions."""
    argv = list(argv)
    if "--itemize-changes" in argv or "i" in set(_short_letters(argv)):
        return []
    return ["--itemize-changes"]
