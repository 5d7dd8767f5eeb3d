"""rsync's own words from real runs: every message class made for real, counts checked against --stats.

Two rsyncs: Debian 12's 3.2.7 (unpacked from bookworm's package, the version
the brief names) and this machine's (3.5.0, bookworm-security and trixie).
Runs go between scratch directories, through a stand-in remote shell (so the
transfer is a remote one, delta mode, as P2/C4 push to new) where it matters.
Permission errors come from running rsync as nobody (setpriv); a vanished
file is really deleted the moment rsync's sender opens it, by a tiny
LD_PRELOAD shim compiled here (deterministic, no timing); nothing is
replayed from a recording.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from fabfile.edit import EditError
from fabfile.edit.rsynclog import itemize_option, rsync_version, sparse_option, summarize, uses_sparse
from tests import debfiles

P2 = ["-av", "--delete", "-x"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
MIB = 1024 * 1024
VANISH_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* delete $VANISH_PATH the moment a process opens it for reading: a file that vanishes after the listing */
static void vanish(int dirfd, const char *path, int flags) {
    const char *target = getenv("VANISH_PATH");
    char dir[PATH_MAX], link[64], full[2 * PATH_MAX], real[PATH_MAX];
    ssize_t n;
    if (target == NULL || path == NULL || (flags & O_CREAT)) return;
    if (path[0] == '/') snprintf(full, sizeof full, "%s", path);
    else {
        if (dirfd == AT_FDCWD) { if (getcwd(dir, sizeof dir) == NULL) return; }
        else { snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
               if ((n = readlink(link, dir, sizeof dir - 1)) < 0) return; dir[n] = '\0'; }
        snprintf(full, sizeof full, "%s/%s", dir, path);
    }
    if (realpath(full, real) != NULL && strcmp(real, target) == 0) unlink(real);
}
#define WRAP(name, params, args, fd) int name params { static int (*next)(); mode_t mode = 0; va_list ap; \
    if (flags & O_CREAT) { va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); } \
    if (next == NULL) next = dlsym(RTLD_NEXT, #name); vanish(fd, path, flags); return next args; }
WRAP(open, (const char *path, int flags, ...), (path, flags, mode), AT_FDCWD)
WRAP(open64, (const char *path, int flags, ...), (path, flags, mode), AT_FDCWD)
WRAP(openat, (int dfd, const char *path, int flags, ...), (dfd, path, flags, mode), dfd)
WRAP(openat64, (int dfd, const char *path, int flags, ...), (dfd, path, flags, mode), dfd)
"""


def _debian12_rsync() -> str:
    """The 3.2.x rsync of Debian 12's own release (bookworm main), unpacked."""
    table = subprocess.run(["apt-cache", "madison", "rsync"], capture_output=True, text=True).stdout
    versions = [line.split("|")[1].strip() for line in table.splitlines() if line.count("|") >= 2]
    version = next((v for v in versions if v.startswith("3.2.")), None)
    if version is None:
        pytest.skip("no rsync 3.2.x in this machine's package lists (apt-cache madison rsync)")
    return str(debfiles.unpacked_from(None, f"rsync={version}") / "usr/bin/rsync")


RSYNCS = {"debian12-3.2": _debian12_rsync, "system": lambda: shutil.which("rsync") or pytest.skip("rsync not installed")}


@pytest.fixture(scope="module", params=sorted(RSYNCS))
def rsync(request) -> str:
    binary = RSYNCS[request.param]()
    assert rsync_version(subprocess.run([binary, "--version"], capture_output=True, text=True).stdout) >= (3, 1, 3)
    return binary


@pytest.fixture
def work():
    """A scratch directory nobody can reach too (pytest's own tmp_path sits under a root-only directory)."""
    path = Path(tempfile.mkdtemp(prefix="rsync-real-"))
    path.chmod(0o755)
    (path / "rsh").write_text('#!/bin/sh\nshift\nexec "$@"\n')  # a remote shell that runs the command here
    (path / "rsh").chmod(0o755)
    yield path
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
    shutil.rmtree(path)


def make(root: Path, entries: dict) -> None:
    """Files from {path: text}; a path ending in / is a directory; "FIFO"/"SOCKET" make special files."""
    for rel, content in entries.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            path.mkdir(exist_ok=True)
        elif content == "FIFO":
            os.mkfifo(path)
        elif content == "SOCKET":
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(str(path))
        else:
            path.write_text(content)


def run(rsync: str, work: Path, *args: str, user: list[str] = (), env: dict | None = None, remote: bool = True):
    """rsync ARGS src/ dst/ (through the stand-in remote shell: delta mode, as to new); (exit code, output lines, argv)."""
    target = ["-e", str(work / "rsh"), f"--rsync-path={rsync}", "src/", "new:dst/"] if remote else ["src/", "dst/"]
    argv = [rsync, *args, "--stats", *target]
    result = subprocess.run([*user, *argv], cwd=work, capture_output=True, text=True, env={**os.environ, **(env or {})})
    return result.returncode, (result.stdout + result.stderr).splitlines(keepends=True), argv


def chown_all(root: Path, uid: int = 65534) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, uid, uid)


SOURCE = {"a/f1": "new one\n", "a/f2": "two\n", "b/": None}
DEST = {"a/f1": "old\n", "a/old1": "x", "a/old2": "x", "gone/chikuwa1": "build", "gone/x": "x", "gone/sub/y": "y",
        "zdir/old": "z"}
DELETED = 7  # a/old1 a/old2 gone/x gone/sub/y gone/sub zdir/old zdir; gone/ stays: chikuwa1 is excluded


@pytest.mark.parametrize("itemize", [False, True])
def test_deletions_kept_directory_and_stats_agree(rsync, work, itemize):
    make(work / "src", SOURCE)
    make(work / "dst", DEST)
    args = P2 + ["--exclude=chikuwa*"] + (itemize_option(P2) if itemize else [])
    for dry in (True, False):
        code, lines, _ = run(rsync, work, *(["-n"] if dry else []), *args)
        summary = summarize(lines)
        assert code == 0 and summary.dry_run == dry
        assert summary.deletions == summary.stats["deleted"] == DELETED
        assert summary.classes["non_empty_dir_kept"] == 1 and summary.examples["non_empty_dir_kept"] == ["gone"]
        assert summary.mismatches() == [] and summary.itemized == itemize
        assert any("deletions" in ask for ask in summary.needs_acceptance())
    assert (work / "dst/gone/chikuwa1").exists() and not (work / "dst/zdir").exists()


def test_io_error_skips_the_deletions_after_it(rsync, work):
    make(work / "src", {"a/f": "f", "unread/secret": "s", "zz/keep": "k"})
    make(work / "dst", {"a/old": "o", "unread/extra": "e", "zz/old": "o"})
    chown_all(work / "dst")
    (work / "src/unread").chmod(0)
    code, lines, _ = run(rsync, work, *P2, user=NOBODY)
    summary = summarize(lines)
    assert code == 23 and summary.exit_code == 23 and summary.classes["partial"] == 1
    assert summary.classes["io_error"] == 1 and summary.examples["io_error"] == [str(work / "src/unread")]
    assert summary.classes["deletion_skipped"] == 1 and summary.classes["permission_denied"] >= 1
    assert summary.deletions == summary.stats["deleted"] == 1  # a/old only
    assert not (work / "dst/a/old").exists() and (work / "dst/unread/extra").exists() and (work / "dst/zz/old").exists()
    assert any("SKIPS deletions" in ask for ask in summary.needs_acceptance())


def test_unreadable_file_send_files_failed(rsync, work):
    make(work / "src", {"a/ok": "ok", "a/secret": "s"})
    (work / "dst").mkdir()
    chown_all(work / "dst")
    (work / "src/a/secret").chmod(0)
    code, lines, _ = run(rsync, work, *P2, *itemize_option(P2), user=NOBODY)
    summary = summarize(lines)
    assert code == 23
    assert summary.classes["send_failed"] == 1 and summary.examples["send_failed"] == [str(work / "src/a/secret")]
    assert summary.classes["permission_denied"] == 1 and summary.mismatches() == []
    assert summary.classes["sent"] == 1 and summary.stats["reg_transferred"] == 2  # rsync counts the failed one too


def test_vanished_file_code_24(rsync, work):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the shim that deletes a file when rsync opens it")
    (work / "vanish.c").write_text(VANISH_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(work / "vanish.so"), str(work / "vanish.c"), "-ldl"], check=True)
    make(work / "src", {"d/a": "1", "d/victim": "2", "d/z": "3"})
    victim = work / "src/d/victim"
    code, lines, _ = run(rsync, work, *P2, *itemize_option(P2), remote=False,
                         env={"LD_PRELOAD": str(work / "vanish.so"), "VANISH_PATH": str(victim)})
    summary = summarize(lines)
    assert code == 24 and summary.exit_code == 24 and not victim.exists()
    assert summary.classes["vanished"] == 1 and summary.examples["vanished"] == [str(victim)]
    assert summary.classes["sent"] == 2 and summary.stats["reg_transferred"] == 3 and summary.mismatches() == []
    assert any("vanished" in ask for ask in summary.needs_acceptance())


def test_special_files(rsync, work):
    make(work / "src", {"fifo": "FIFO", "sock": "SOCKET", "f": "f"})
    (work / "dst").mkdir()
    code, lines, _ = run(rsync, work, "-rlt", "-v", "--delete")  # no -D
    summary = summarize(lines)
    assert code == 0 and summary.classes["non_regular_skipped"] == 2
    assert sorted(summary.examples["non_regular_skipped"]) == ["fifo", "sock"]
    code, lines, _ = run(rsync, work, *P2, "-i")  # -a has -D: root copies them
    summary = summarize(lines)
    assert code == 0 and summary.classes["specials"] == 2 and summary.mismatches() == []
    assert (work / "dst/fifo").is_fifo() and (work / "dst/sock").is_socket()


def test_max_delete_stops_deletions(rsync, work):
    make(work / "src", {"keep": "k"})
    make(work / "dst", {"keep": "k", "d1": "1", "d2": "2", "d3": "3"})
    code, lines, _ = run(rsync, work, *P2, "--max-delete=1")
    summary = summarize(lines)
    assert code == 25 and summary.exit_code == 25
    assert summary.deletions == summary.stats["deleted"] == 1 and summary.max_delete_skipped == 2
    assert any("--max-delete" in ask for ask in summary.needs_acceptance())


def test_real_run_as_the_op_layer_runs_it_with_log_file(rsync, work):
    """P3/C4: --log-file keeps the itemized list, stdout has progress and --stats: both summaries agree."""
    make(work / "src", SOURCE)
    make(work / "dst", DEST)
    log = work / "rsync.log.real"
    code, lines, argv = run(rsync, work, *P2, "--exclude=chikuwa*", f"--log-file={log}", "--info=name0,progress2")
    out, listed = summarize(lines), summarize(log.read_text().splitlines(keepends=True))
    assert code == 0 and listed.itemized
    assert out.stats["deleted"] == listed.deletions == DELETED
    assert listed.classes["sent"] == out.stats["reg_transferred"] == 2
    assert listed.classes["non_empty_dir_kept"] == 1


def sparse_image(path: Path) -> None:
    """64 MiB with two written bytes: the rest are holes, the last 44 MiB one (rsync issue #450's case)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(64 * MIB)
        for offset in (0, 20 * MIB):
            handle.seek(offset)
            handle.write(b"x")


def filled(path: Path) -> None:
    """An older, fully written file of the same size at new's end (an update, not a new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff" * (64 * MIB))
    os.utime(path, (978307200, 978307200))


def version_of(rsync: str) -> tuple[int, ...]:
    return rsync_version(subprocess.run([rsync, "--version"], capture_output=True, text=True).stdout)


@pytest.mark.parametrize("update", [False, True])
def test_sparse_file_keeps_its_holes_only_with_the_option(rsync, work, update):
    big = work / "src/disk.img"
    sparse_image(big)
    argv = P2 + ["--info=name0,progress2", f"--log-file={work / 'log'}"]
    extra = sparse_option(argv, version_of(rsync))
    assert extra == ["--sparse"] and sparse_option(argv + extra) == []
    allocated = {}
    for label, options in (("plain", argv), ("sparse", argv + extra)):
        shutil.rmtree(work / "dst", ignore_errors=True)
        (work / "dst").mkdir()
        if update:
            filled(work / "dst/disk.img")
        code, lines, full = run(rsync, work, *options)
        copy = work / "dst/disk.img"
        assert code == 0 and copy.read_bytes() == big.read_bytes()
        allocated[label] = copy.stat().st_blocks * 512
        assert summarize(lines, argv=full).sparse == uses_sparse(full) == (label == "sparse")
    assert allocated["plain"] >= 60 * MIB and allocated["sparse"] <= 1 * MIB, allocated
    assert "sparse files: holes kept on new (--sparse)" in summarize([], argv=argv + extra).describe()


@pytest.mark.parametrize("option", ["--inplace", "--preallocate"])
def test_sparse_with_inplace_or_preallocate_refused_where_rsync_gets_it_wrong(rsync, work, option):
    """Measured: Debian 12's 3.2.7 with --sparse --inplace leaves new's old bytes where holes belong,
    with --sparse --preallocate it allocates every block; sparse_option refuses exactly there."""
    sparse_image(work / "src/disk.img")
    filled(work / "dst/disk.img")
    code, _, _ = run(rsync, work, *P2, option, "--sparse")
    copy = work / "dst/disk.img"
    right, holes = copy.read_bytes() == (work / "src/disk.img").read_bytes(), copy.stat().st_blocks * 512 <= 32 * MIB
    try:
        allowed = sparse_option(P2 + [option], version_of(rsync)) == ["--sparse"]
    except EditError:
        allowed = False
    assert code == 0 and allowed == (right and holes), (version_of(rsync), right, holes)


def test_sparse_option_refused_with_inplace_on_old_rsync():
    with pytest.raises(EditError, match="3.3.0"):
        sparse_option(["-av", "--inplace"], (3, 1, 2))
    with pytest.raises(EditError, match="3.3.0"):
        sparse_option(["-av", "--inplace"])  # version unknown: cannot vouch for it


def test_version_strings_of_both_rsyncs(rsync):
    text = subprocess.run([rsync, "--version"], capture_output=True, text=True).stdout
    assert re.match(r"rsync\s+version\s+3\.", text) and rsync_version(text)[:2] in ((3, 2), (3, 4), (3, 5))
