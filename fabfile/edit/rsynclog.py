"""Summarise ``rsync -n -av --delete [--stats]`` output (runbook P2, C4).

The operator reads the dry run for what would be sent and, above all,
deleted: an unexpected deletion means a missing ``--exclude``.  The log
can be 200,000 lines, so the summary is built line by line and keeps only
counts plus the first few deletion names and errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

_NUMBER = r"([0-9][0-9,.]*)"
_TOTAL_SIZE = re.compile(rf"^total size is {_NUMBER}")
_TRANSFERRED = re.compile(rf"^Total transferred file size: {_NUMBER}")
_DELETED_STAT = re.compile(rf"^Number of deleted files: {_NUMBER}")

_SKIP_EXACT = {"sending incremental file list", "building file list ... done", "building file list", "./"}
_SKIP_PREFIXES = (
    "sent ",
    "building file list",
    "created directory ",
    "delta-transmission ",
    "Number of ",
    "Total file size:",
    "Total bytes ",
    "Literal data:",
    "Matched data:",
    "File list ",
)


def _to_int(digits: str) -> int:
    """rsync 3.1+ groups digits ("1,234,567"); the locale may use dots."""
    return int(re.sub(r"[,.]", "", digits))


@dataclass
class RsyncSummary:
    """Counts of a dry run; names only for the first deletions and errors."""

    files: int = 0
    dirs: int = 0
    deletions: int = 0
    first_deletions: list[str] = field(default_factory=list)
    bytes: int | None = None
    total_size: int | None = None
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    stats_deletions: int | None = None

    def describe(self) -> list[str]:
        """Short lines for the operator and the journal."""
        lines = [f"{self.files} file(s) and {self.dirs} dir(s) to send, {self.deletions} deletion(s)"]
        if self.bytes is not None:
            lines.append(f"{self.bytes} bytes to transfer")
        if self.total_size is not None:
            lines.append(f"total size {self.total_size} bytes")
        if self.first_deletions:
            more = self.deletions - len(self.first_deletions)
            lines.append("would delete: " + ", ".join(self.first_deletions) + (f" (+{more} more)" if more else ""))
        if self.error_count:
            lines.append(f"{self.error_count} error line(s): " + " | ".join(self.errors))
        return lines


def _strip_ending(line: str) -> str:
    """Drop the line terminator only: file names may end in blanks."""
    return line.rstrip("\r\n")


def _read_numbers(summary: RsyncSummary, line: str) -> bool:
    """Take the numbers the summary wants; True when the line is consumed."""
    for pattern, attribute in ((_TOTAL_SIZE, "total_size"), (_TRANSFERRED, "bytes"), (_DELETED_STAT, "stats_deletions")):
        match = pattern.match(line)
        if match:
            setattr(summary, attribute, _to_int(match.group(1)))
            return True
    return False


def _is_noise(line: str) -> bool:
    return not line.strip() or line in _SKIP_EXACT or line.startswith(_SKIP_PREFIXES)


def summarize(lines: Iterable[str], keep_deletions: int = 20, keep_errors: int = 20) -> RsyncSummary:
    """Consume rsync's output once, in constant memory."""
    summary = RsyncSummary()
    for raw in lines:
        line = _strip_ending(raw)
        if line.startswith("rsync:") or line.startswith("rsync error"):
            summary.error_count += 1
            if len(summary.errors) < keep_errors:
                summary.errors.append(line)
        elif _read_numbers(summary, line) or _is_noise(line):
            continue
        elif line.startswith("deleting "):
            summary.deletions += 1
            if len(summary.first_deletions) < keep_deletions:
                summary.first_deletions.append(line[len("deleting "):])
        elif line.endswith("/"):
            summary.dirs += 1
        else:
            summary.files += 1
    return summary
