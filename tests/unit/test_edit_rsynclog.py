"""rsync's own words: streaming summary, every message class, --stats agreement, sparse and itemize options.

The multi-line samples below are rsync 3.2.7 output from real runs on this
machine (tests/unit/test_real_rsync.py makes each class for real).
"""

import tracemalloc

from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.rsynclog import LABELS, itemize_option, rsync_version, sparse_option, summarize, uses_sparse

import pytest

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


# ---- rsync 3.2.7's messages, as a real run printed them -------------------------------------------

IO_ERROR_RUN = """sending incremental file list
rsync: [sender] opendir "/tmp/rsx/src/unread" failed: Permission denied (13)
deleting gone/sub/d
deleting gone/sub/
cannot delete non-empty directory: gone
deleting a/old.txt
IO error encountered -- skipping file deletion
\r         32,768   0%    0.00kB/s    0:00:00  \r     67,108,869  99%  633.35MB/s    0:00:00 (xfr#3, to-chk=0/9)

Number of files: 9 (reg: 3, dir: 3, link: 1, special: 2)
Number of created files: 7 (reg: 3, dir: 1, link: 1, special: 2)
Number of deleted files: 3 (reg: 2, dir: 1)
Number of regular files transferred: 3
Total file size: 67,108,871 bytes
Total transferred file size: 67,108,869 bytes

sent 67,125,626 bytes  received 235 bytes  134,251,722.00 bytes/sec
total size is 67,108,871  speedup is 1.00
rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1347) [sender=3.2.7]
"""

ITEMIZED_RUN = """sending incremental file list
*deleting   gone/sub/d
*deleting   gone/sub/
cannot delete non-empty directory: gone
*deleting   a/old.txt
.d...p..... ./
cS+++++++++ fifo
cS+++++++++ sock
>f+++++++++ sparse
.d...p..... a/
>f+++++++++ a/f1
cL+++++++++ a/link -> f1
cd+++++++++ unread/
rsync: [sender] send_files failed to open "/tmp/rsx/src/a/secret": Permission denied (13)

Number of files: 9 (reg: 3, dir: 3, link: 1, special: 2)
Number of created files: 7 (reg: 3, dir: 1, link: 1, special: 2)
Number of deleted files: 3 (reg: 2, dir: 1)
Number of regular files transferred: 3
"""

OTHER_CLASSES = """sending incremental file list
symlink has no referent: "/tmp/rsx/nr/src/dang"
skipping non-regular file "ff"
file has vanished: "/tmp/vshim/src/d/victim"
deleting gone/sub/d
Deletions stopped due to --max-delete limit (2 skipped)
rsync warning: some files vanished before they could be transferred (code 24) at main.c(1347) [sender=3.2.7]
"""


def test_io_error_run_classes_and_acceptance():
    summary = summarize(IO_ERROR_RUN.splitlines(keepends=True))
    assert summary.deletions == summary.stats["deleted"] == 3 and summary.mismatches() == []
    assert (summary.classes["io_error"], summary.classes["deletion_skipped"], summary.classes["non_empty_dir_kept"]) == (1, 1, 1)
    assert summary.classes["permission_denied"] == 1 and summary.exit_code == 23 and summary.classes["partial"] == 1
    assert summary.examples["io_error"] == ["/tmp/rsx/src/unread"] and summary.examples["non_empty_dir_kept"] == ["gone"]
    asks = summary.needs_acceptance()
    assert asks[0] == "accept these 3 deletions on new?" and any("SKIPS deletions" in a for a in asks)
    assert any("gone" in a for a in asks)
    assert summary.files == 0  # the progress line is no file name


def test_itemized_run_counts_agree_with_stats():
    summary = summarize(ITEMIZED_RUN.splitlines())
    assert summary.itemized and summary.first_deletions == ["gone/sub/d", "gone/sub/", "a/old.txt"]
    assert (summary.classes["sent"], summary.classes["created"], summary.classes["specials"]) == (2, 6, 2)
    assert summary.classes["send_failed"] == 1 and summary.mismatches() == []  # 2 sent + 1 failed = 3 transferred
    assert summary.dirs == 3 and summary.files == 5


def test_itemized_counts_that_disagree_with_stats_are_reported():
    lines = [line for line in ITEMIZED_RUN.splitlines() if "sparse" not in line]
    summary = summarize(lines)
    assert summary.mismatches() and any("disagrees with --stats" in ask for ask in summary.needs_acceptance())


def test_dropped_deletion_line_is_a_mismatch():
    summary = summarize([line for line in IO_ERROR_RUN.splitlines() if "a/old.txt" not in line])
    assert summary.mismatches() == ["2 deletion line(s) but --stats says 3 deleted"]


def test_other_classes():
    summary = summarize(OTHER_CLASSES.splitlines())
    for name in ("no_referent", "non_regular_skipped", "vanished", "max_delete_stopped"):
        assert summary.classes[name] == 1, name
    assert summary.max_delete_skipped == 2 and summary.exit_code == 24
    assert summary.examples["vanished"] == ["/tmp/vshim/src/d/victim"] and summary.examples["non_regular_skipped"] == ["ff"]
    text = "\n".join(summary.describe())
    assert all(LABELS[name] in text for name in ("no_referent", "non_regular_skipped", "vanished", "max_delete_stopped"))


def test_log_file_lines():
    log = ["2026/12/01 21:00:00 [4242] building file list\n", "2026/12/01 21:00:00 [4242] *deleting   old\n",
           "2026/12/01 21:00:00 [4242] >f+++++++++ a/b c\n",
           "2026/12/01 21:00:01 [4242] sent 10 bytes  received 5 bytes  total size 3\n"]
    summary = summarize(log)
    assert summary.deletions == 1 and summary.first_deletions == ["old"] and summary.examples["sent"] == ["a/b c"]


def test_describe_says_whether_sparse_handling_is_on():
    assert "sparse files: holes kept on new (--sparse)" in summarize([], argv=["rsync", "-avS"]).describe()
    assert "sparse files: not handled (no --sparse)" in summarize([]).describe()


# ---- options -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, sparse", [
    (["-av", "--delete"], False), (["-avS"], True), (["-S"], True), (["--sparse"], True), (["--sparse", "--no-sparse"], False),
    (["-e", "ssh -S"], False), (["-avze", "ssh"], False), (["--no-S", "-S"], True), (["--exclude=-S"], False),
])
def test_uses_sparse(argv, sparse):
    assert uses_sparse(argv) == sparse


def test_sparse_option():
    assert sparse_option(["-av", "--delete", "-x", "--info=name0,progress2", "--log-file=x"], (3, 2, 7)) == ["--sparse"]
    assert sparse_option(["-avS"], (3, 2, 7)) == []
    assert sparse_option(["-av", "--inplace"], (3, 5, 0)) == ["--sparse"]
    for argv, version in ((["--inplace"], (3, 2, 7)), (["--append-verify"], (3, 2, 7)), (["--preallocate"], (3, 5, 0))):
        with pytest.raises(EditError):
            sparse_option(argv, version)


def test_itemize_option():
    assert itemize_option(["-av"]) == ["--itemize-changes"]
    assert itemize_option(["-avi"]) == [] and itemize_option(["--itemize-changes"]) == []
    assert itemize_option(["-e", "ssh -i key"]) == ["--itemize-changes"]


def test_rsync_version():
    assert rsync_version("rsync  version 3.2.7  protocol version 32\n") == (3, 2, 7)
    with pytest.raises(EditError):
        rsync_version("nope")


# ---- the grammar of rsync's output ---------------------------------------------------------------------

_NAMES = st.text(alphabet="abcxyz0129._-/ ", min_size=1, max_size=12).filter(lambda n: n.strip(" /") and not n.startswith(" "))
_EVENTS = ["sent", "created_dir", "changed", "deleted", "non_empty_dir_kept", "non_regular_skipped", "vanished", "io_error",
           "deletion_skipped", "send_failed", "special"]


def _render(kind: str, name: str, itemized: bool) -> str:
    name = name.strip("/") or "x"
    return {
        "sent": f">f+++++++++ {name}" if itemized else name,
        "created_dir": f"cd+++++++++ {name}/" if itemized else f"{name}/",
        "changed": f".d..t...... {name}/" if itemized else f"{name}/",
        "special": f"cS+++++++++ {name}" if itemized else name,
        "deleted": f"*deleting   {name}" if itemized else f"deleting {name}",
        "non_empty_dir_kept": f"cannot delete non-empty directory: {name}",
        "non_regular_skipped": f'skipping non-regular file "{name}"',
        "vanished": f'file has vanished: "/src/{name}"',
        "io_error": f'rsync: [sender] opendir "/src/{name}" failed: Permission denied (13)',
        "deletion_skipped": "IO error encountered -- skipping file deletion",
        "send_failed": f'rsync: [sender] send_files failed to open "/src/{name}": Permission denied (13)',
    }[kind]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_EVENTS), _NAMES), max_size=40), st.booleans(), st.booleans())
def test_property_classes_counted_and_agree_with_stats(events, itemized, dry):
    kinds = [kind for kind, _ in events]
    failed = 0 if dry else kinds.count("send_failed") + kinds.count("vanished")
    created = kinds.count("sent") + kinds.count("created_dir") + kinds.count("special")
    lines = ["sending incremental file list"] + [_render(kind, name, itemized) for kind, name in events] + [
        "", f"Number of created files: {created + failed}", f"Number of deleted files: {kinds.count('deleted')}",
        f"Number of regular files transferred: {kinds.count('sent') + failed}",
        f"total size is 1,234  speedup is 1.00{' (DRY RUN)' if dry else ''}"]
    summary = summarize(iter(lines), keep_deletions=3)
    assert summary.deletions == kinds.count("deleted") == summary.stats["deleted"]
    assert len(summary.first_deletions) == min(3, kinds.count("deleted")) and summary.mismatches() == []
    for kind in ("non_empty_dir_kept", "non_regular_skipped", "vanished", "io_error", "deletion_skipped", "send_failed"):
        assert summary.classes[kind] == kinds.count(kind), kind
    if itemized:
        assert summary.classes["sent"] == kinds.count("sent") and summary.classes["specials"] == kinds.count("special")
    asks = " ".join(summary.needs_acceptance())
    assert ("deletions on new" in asks) == ("deleted" in kinds)
    assert ("SKIPS deletions" in asks) == ("io_error" in kinds or "deletion_skipped" in kinds)
    for kind in ("non_empty_dir_kept", "non_regular_skipped", "vanished", "send_failed"):
        assert (LABELS[kind] in asks) == (kind in kinds), kind
