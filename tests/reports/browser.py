"""Headless Chromium for the report tests: the binary (None when absent), and how wide a page lays out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

# Measures after load: the document's scroll width, and every element that sticks out of the viewport or
# scrolls sideways itself. Injected into a copy of the page only: the report itself has no script.
_PROBE = """<script>window.addEventListener("load", function () {
  var vw = document.documentElement.clientWidth, wide = [];
  document.querySelectorAll("body *").forEach(function (e) {
    var r = e.getBoundingClientRect(), ox = getComputedStyle(e).overflowX;
    if (r.right > vw + 1 || (ox !== "visible" && e.scrollWidth > e.clientWidth + 1))
      wide.push(e.tagName + (e.className ? "." + e.className : "") + " right=" + Math.round(r.right));
  });
  document.body.setAttribute("data-probe", JSON.stringify(
    {scroll: document.documentElement.scrollWidth, client: vw, wide: wide.slice(0, 20)}));
});</script>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--hide-scrollbars"]


def layout_width(page: Path, width: int, tmp: Path) -> dict:
    """``{"scroll": px, "client": px, "wide": [elements]}`` of ``page`` laid out in a ``width``-pixel window."""
    probe = tmp / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    proc = subprocess.run([chromium(), *_flags(tmp / "profile"), f"--window-size={width},1000",
                           "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=180)
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(page: Path, out: Path, width: int, height: int, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *_flags(tmp / "profile"), f"--screenshot={out}",
                           f"--window-size={width},{height}", page.as_uri()], capture_output=True, text=True,
                          timeout=180)
