"""report.html in a real browser: headless Chromium (Debian's ``chromium`` package).

Three checks on a freshly built report:

* a screenshot of the page is not blank (and shows the synthetic-data banner);
* every ``<img>`` loaded (``naturalWidth > 0``), read back with ``--dump-dom`` from
  a copy of the page carrying a small inline probe script;
* the console shows no errors: none logged by Chromium for the page as written
  (its Content-Security-Policy forbids every network request, so an external
  reference would show up as a CSP error), and none caught by the probe.

Set ``ASYMTRUST_SCREENSHOT_DIR`` to keep the screenshot for a human to look at.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from asymtrust.reporting.build import report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__errors.push('error: ' + (e.message || t.src || t.href || 'resource failed'));
}, true);
document.addEventListener('securitypolicyviolation', function (e) {
  window.__errors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
});
(function () {
  var orig = console.error;
  console.error = function () {
    window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return orig.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  var imgs = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    imgs.push({complete: im.complete, w: im.naturalWidth, h: im.naturalHeight});
  }
  var pre = document.createElement('pre');
  pre.id = 'asymtrust-probe';
  pre.textContent = JSON.stringify({images: imgs, errors: window.__errors,
                                    sections: document.querySelectorAll('main section').length});
  document.body.appendChild(pre);
});
</script>
"""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        if os.environ.get("ASYMTRUST_REQUIRE_BROWSER") == "1":
            pytest.fail("headless Chromium is required (ASYMTRUST_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def _console_lines(stderr: str) -> list[str]:
    """Console messages Chromium logs to stderr ("...:INFO:CONSOLE:0] ..." or "CONSOLE(12)")."""
    return [ln for ln in stderr.splitlines() if re.search(r":CONSOLE[:(]", ln) or "Refused to" in ln]


def _probe(html: str, folder: Path, profile: Path) -> tuple[dict, list[str]]:
    """Load ``html`` (written into ``folder``) with the probe; return its findings and the console lines."""
    assert "default-src 'none'" in html
    probe_html = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1)
    probe_html = probe_html.replace("<head>", "<head>\n" + PROBE, 1)
    page = folder / "probe.html"  # next to report.html, so relative references resolve the same way
    page.write_text(probe_html, encoding="utf-8")
    try:
        res = _chromium(["--virtual-time-budget=15000", "--dump-dom", page.as_uri()], profile)
    finally:
        page.unlink()
    m = re.search(r'<pre id="asymtrust-probe">(.*?)</pre>', res.stdout, re.DOTALL)
    assert m, "the probe did not run:\n" + res.stderr[-2000:]
    import html as _html

    return json.loads(_html.unescape(m.group(1))), _console_lines(res.stderr)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report"
    report(out=out, bootstrap=20, seed=3, quiet=True)
    return out


def test_screenshot_is_not_blank(built, tmp_path):
    shot = tmp_path / "report.png"
    res = _chromium(["--window-size=1280,2200", f"--screenshot={shot}", (built / "report.html").as_uri()],
                    tmp_path / "profile")
    assert shot.is_file(), res.stderr[-2000:]
    import matplotlib.image as mpimg

    px = mpimg.imread(shot)[..., :3]
    assert px.shape[0] >= 2000 and px.shape[1] >= 1200
    ink = (px < 0.85).any(axis=-1).mean()
    assert ink > 0.03, f"only {ink:.1%} of the screenshot is drawn"
    colours = np.unique((px[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
    # the synthetic-data banner (background #fff3e0) is on the first screen
    top = (px[:700] * 255).round()
    banner = (np.abs(top - np.array([255, 243, 224])) <= 2).all(axis=-1).mean()
    assert banner > 0.02
    keep = os.environ.get("ASYMTRUST_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / "report.png")


def test_every_image_loads_and_no_console_errors(built, tmp_path):
    html = (built / "report.html").read_text(encoding="utf-8")
    probe, console = _probe(html, built, tmp_path / "profile")
    n_img = html.count("<img ")
    assert n_img >= 5
    assert len(probe["images"]) == n_img
    for img in probe["images"]:
        assert img["complete"] and img["w"] > 200 and img["h"] > 100, img
    assert probe["errors"] == []
    from asymtrust.reporting.sections import SECTION_TITLES

    assert probe["sections"] == len(SECTION_TITLES)  # every section, "Where the model misfits" included
    assert console == []


def test_probe_catches_broken_images_and_blocked_requests(tmp_path):
    """Negative control: the same checks fail on a page with a broken and an external image."""
    bad = ("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "img-src data:; style-src 'unsafe-inline'\"><title>bad</title></head><body><main><section>x</section>"
           "<img src=\"https://example.com/a.png\" alt=\"a\"><img src=\"data:image/png;base64,AAAA\" alt=\"b\">"
           "</main></body></html>")
    probe, console = _probe(bad, tmp_path, tmp_path / "profile")
    assert [img["w"] for img in probe["images"]] == [0, 0]
    assert any(e.startswith("csp:") for e in probe["errors"])
    assert any("example.com" in line for line in console)


def test_page_as_written_logs_nothing(built, tmp_path):
    """The report itself, with its strict CSP: no blocked request, no console message."""
    res = _chromium(["--virtual-time-budget=10000", "--dump-dom", (built / "report.html").as_uri()],
                    tmp_path / "profile")
    assert "<main>" in res.stdout
    assert _console_lines(res.stderr) == []
