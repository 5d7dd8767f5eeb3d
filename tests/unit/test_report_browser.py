"""The report opened in headless Chromium (Debian's `chromium`): the timeline and the checks table render.

A copy of the page gets a small probe script that measures the laid-out
tables (rows, sizes, the timeline bars) and writes the numbers into the DOM;
`--dump-dom` returns them. A screenshot must not be a blank page.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from fabfile import cockpit

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def rec(time, event, step=None, task=None, host=None, **fields):
    return dict(time=f"2026-11-27T{time}+00:00", run="r1", user="ops", host=host, task=task, step=step, event=event, **fields)


NIGHT = [
    rec("20:00:00", "start", "S2", "phase1.stop-services", "old"),
    rec("20:00:01", "change", "S2", "phase1.stop-services", "old", detail="/etc/init.d/apache2 stop"),
    rec("20:00:03", "done", "S2", "phase1.stop-services", "old", duration=3.0),
    rec("20:10:00", "start", "C3", "phase2.merge-accounts", "new"),
    rec("20:10:01", "change", "C3", "phase2.merge-accounts", "new", path="/etc/shadow", backup="/etc/shadow.serverswap-20261127T201001"),
    rec("20:25:00", "done", "C3", "phase2.merge-accounts", "new", duration=900.0),
    rec("20:30:00", "start", "C4", "phase2.rsync-home", "old"),
    rec("20:31:00", "failed", "C4", "phase2.rsync-home", "old", duration=60.0, detail="rsync killed"),
    rec("20:50:00", "start", "V1", "phase4.check-http", None),
    rec("20:50:01", "check", "V1", "phase4.check-http", "new", check="V1 http http://itpass/", ok=True, expected="2xx", seen="200 OK"),
    rec("20:50:02", "done", "V1", "phase4.check-http", None, duration=2.0),
    rec("20:51:00", "check", "V5", "phase4.check-old-closed", "old", check="V5 smtp", ok=False, expected="5xx", seen="250 ok", detail="old still accepts"),
]

PROBE = """<script>
window.addEventListener('load', function () {
  function box(sel) { var e = document.querySelector(sel); if (!e) return null; var r = e.getBoundingClientRect(); return {w: r.width, h: r.height}; }
  var bars = Array.prototype.map.call(document.querySelectorAll('#timeline .bar span'), function (s) { return s.getBoundingClientRect().width; });
  var out = {
    timeline: box('#timeline'), checks: box('#checks'), window: box('#window'),
    timeline_rows: document.querySelectorAll('#timeline tbody tr').length,
    checks_rows: document.querySelectorAll('#checks tbody tr').length,
    fail_color: getComputedStyle(document.querySelector('#checks .fail')).color,
    bars: bars
  };
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI installs it")
    out = tmp_path_factory.mktemp("report")
    page = cockpit.render_html(cockpit.build_report(NIGHT, manual_items=["V1 the wiki accepts an edit"]))
    (out / "report.html").write_text(page)
    (out / "probe.html").write_text(page.replace("</body>", PROBE + "</body>"))
    return out


def chromium(*args, timeout=60):
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_report_renders_the_timeline_and_the_checks_table(report):
    result = chromium("--dump-dom", (report / "probe.html").as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"no probe output; chromium said: {result.stderr[-500:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe["timeline_rows"] == 4 and probe["checks_rows"] == 2
    assert probe["timeline"]["h"] > 50 and probe["timeline"]["w"] > 300
    assert probe["checks"]["h"] > 30 and probe["window"]["h"] > 0
    assert probe["fail_color"] == "rgb(187, 0, 0)"
    # the bars are laid out in proportion: C3 (15 min) is wider than S2 (3 s)
    assert len(probe["bars"]) == 4 and probe["bars"][1] > 5 * probe["bars"][0]


def png_pixels(path: Path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_report_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,900", (report / "report.html").as_uri())
    assert shot.exists(), result.stderr[-500:]
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1280, 900)
    assert len(set(raw[::97])) > 8          # text, tables and bars, not one flat colour


def test_report_page_loads_nothing_from_elsewhere(report):
    page = (report / "report.html").read_text()
    assert not re.search(r"""<(script|link|img)\b""", page)
    assert os.path.getsize(report / "report.html") < 200_000
