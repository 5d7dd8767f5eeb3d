"""`serverswap`: the installed command is the fabfile's program, from any directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(argv, cwd):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, SERVERSWAP_HOSTS=str(ROOT / "hosts.toml")))


def test_serverswap_list_equals_fab_list(tmp_path):
    if shutil.which("serverswap") is None:
        pytest.skip("serverswap is not installed (pip install -e .)")
    ours = run(["serverswap", "--list"], tmp_path)
    fab = run([sys.executable, "-m", "fabric", "--list"], ROOT)
    assert ours.returncode == 0 and fab.returncode == 0, ours.stderr + fab.stderr
    assert ours.stdout == fab.stdout and "phase3.disable-services" in ours.stdout


def test_hosts_file_option_picks_the_file(tmp_path):
    if shutil.which("serverswap") is None:
        pytest.skip("serverswap is not installed (pip install -e .)")
    result = subprocess.run(["serverswap", "--hosts-file", str(ROOT / "lab" / "hosts.toml"), "status"], cwd=tmp_path,
                            capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "SERVERSWAP_HOSTS"})
    assert result.returncode == 0, result.stderr
    assert "old: not swapped, reached at 198.18.0.22" in result.stdout or "old: SWAPPED" in result.stdout or "UNKNOWN" in result.stdout
