"""rsync dry-run summary: streaming, counts, first deletions, stats numbers."""

import tracemalloc

from hypothesis import given, settings, strategies as st

from fabfile.edit.rsynclog import summarize

DRY_RUN = """sending incremental file list
./
alice/
alice/.bashrc
alice/public_html/index.html
deleting bob/old.txt
deleting bob/cache/
bob/
link -> target

sent 1,234 bytes  received 56 bytes  2,580.00 bytes/sec
total size is 9,876,543  speedup is 7,656.23 (DRY RUN)
"""

STATS = """building file list ... done
carol/notes.txt
rsync: send_files failed to open "/home/x/secret": Permission denied (13)

Number of files: 1,234 (reg: 1,000, dir: 234)
Number of created files: 1
Number of deleted files: 2
Number of regular files transferred: 1
Total file size: 9,999 bytes
Total transferred file size: 1,024 bytes
Literal data: 0 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 100
Total bytes received: 20

sent 100 bytes  received 20 bytes  240.00 bytes/sec
total size is 9,999  speedup is 83.33 (DRY RUN)
rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1207) [sender=3.2.7]
"""


def test_summary_counts_files_dirs_deletions():
    summary = summarize(DRY_RUN.splitlines(keepends=True))
    assert (summary.files, summary.dirs, summary.deletions) == (3, 2, 2)
    assert summary.first_deletions == ["bob/old.txt", "bob/cache/"]


def test_summary_total_size_with_digit_grouping():
    assert summarize(DRY_RUN.splitlines()).total_size == 9876543


def test_summary_bytes_none_without_stats():
    assert summarize(DRY_RUN.splitlines()).bytes is None


def test_summary_stats_block_parsed_and_skipped():
    summary = summarize(STATS.splitlines(keepends=True))
    assert summary.bytes == 1024 and summary.total_size == 9999
    assert summary.stats_deletions == 2
    assert summary.files == 1 and summary.dirs == 0


def test_summary_errors():
    summary = summarize(STATS.splitlines())
    assert summary.error_count == 2
    assert summary.errors[0].startswith("rsync: send_files") and summary.errors[1].startswith("rsync error:")


def test_summary_first_deletions_limited():
    lines = [f"deleting f{i}\n" for i in range(50)]
    summary = summarize(lines, keep_deletions=5)
    assert summary.deletions == 50 and summary.first_deletions == [f"f{i}" for i in range(5)]


def test_summary_file_name_with_trailing_blank_kept():
    assert summarize(["deleting odd name \n"]).first_deletions == ["odd name "]


def test_summary_empty_input():
    summary = summarize(iter([]))
    assert (summary.files, summary.dirs, summary.deletions, summary.total_size) == (0, 0, 0, None)


def test_describe_mentions_counts_and_deletions():
    text = "\n".join(summarize(DRY_RUN.splitlines()).describe())
    assert "3 file(s) and 2 dir(s)" in text and "bob/old.txt" in text


def test_summary_streams_200000_lines_in_constant_memory():
    def lines():
        yield "sending incremental file list\n"
        for i in range(200_000):
            yield f"deleting home/user{i}/file\n" if i % 10 == 0 else f"home/user{i}/file\n"
        yield "total size is 123  speedup is 1.00 (DRY RUN)\n"

    tracemalloc.start()
    summary = summarize(lines(), keep_deletions=20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert summary.deletions == 20_000 and summary.files == 180_000 and summary.total_size == 123
    assert peak < 200_000  # bytes: nothing proportional to the input is kept


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["file", "dir", "del", "noise"]), max_size=60))
def test_property_counts_match_input(kinds):
    noise = ["", "./", "sending incremental file list", "sent 1 bytes  received 2 bytes  3.00 bytes/sec"]
    lines = []
    for index, kind in enumerate(kinds):
        lines.append({"file": f"f{index}", "dir": f"d{index}/", "del": f"deleting x{index}", "noise": noise[index % 4]}[kind] + "\n")
    summary = summarize(iter(lines), keep_deletions=3)
    assert summary.files == kinds.count("file") and summary.dirs == kinds.count("dir")
    assert summary.deletions == kinds.count("del") and len(summary.first_deletions) == min(3, kinds.count("del"))
