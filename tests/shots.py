"""Screenshots in Debian's headless chromium (driven by Playwright), for a human to look at.

Each test saves its screenshots under its own tmp dir, then copies them to
$DIGEST_SHOTS_DIR (default: artifacts/screenshots/, git-ignored), where they
can be looked at after the run: `DIGEST_SHOTS_DIR=/tmp/shots pytest -m slow`.
The `browser` fixture (tests/conftest.py) launches it once per module.
Every page is shot at a desktop and a phone width, in light and dark mode.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

from helpers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
WIDTHS = {"1000": 1000, "390": 390}
SCHEMES = ("light", "dark")

# Decode the screenshot in the page itself: how many distinct colours, how much is not background.
PIXELS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const colours = new Set(); let differs = 0; const bg = [d[0], d[1], d[2]];
  for (let i = 0; i < d.length; i += 4 * 7) {
    colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 30) differs++;
  }
  return {colours: colours.size, differs: differs / (d.length / 28)};
}"""

# Words split across two lines ("bro/wser"): every word of the page's text nodes, with the number of line
# boxes it takes; a word longer than the line (a URL) may wrap, and is left out.
BROKEN_WORDS = """(selector) => {
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.url, a[href^="http"]') && /\\S{30,}/.test(node.data)) continue;
      for (const m of node.data.matchAll(/[A-Za-z]{4,}/g)) {
        const r = document.createRange(); r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
        if (tops.size > 1) out.push(m[0]);
      }
    }
  }
  return out;
}"""


def shots_dir() -> Path:
    return Path(os.environ.get("DIGEST_SHOTS_DIR") or ROOT / "artifacts" / "screenshots")


class Camera:
    """Opens a page at each width and colour scheme, checks it, and saves its screenshot."""

    def __init__(self, browser, folder: Path):
        self.browser = browser
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []

    def each(self, offline: bool = False):
        """(width name, scheme, page) for every width and scheme; the context closes after each."""
        for scheme in SCHEMES:
            for name, width in WIDTHS.items():
                context = self.browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme,
                                                   is_mobile=width < 500, timezone_id="Europe/Berlin")
                context.set_default_timeout(10_000)
                page = context.new_page()
                if offline:  # an email must not need the network
                    page.route("**/*", lambda route: route.abort())
                try:
                    yield name, scheme, page
                finally:
                    context.close()

    def shoot(self, page, name: str) -> dict:
        """Save the full page; check that it fits its width and is a real picture; the pixel summary."""
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name}: sideways scroll"
        assert page.evaluate(BROKEN_WORDS, "body") == [], f"{name}: words broken across lines"
        png = page.screenshot(full_page=True)
        path = self.folder / f"{name}.png"
        path.write_bytes(png)
        self.saved.append(path)
        blank = page.context.new_page()  # outside the page's Content-Security-Policy (no data: images)
        pixels = blank.evaluate(PIXELS, "data:image/png;base64," + base64.b64encode(png).decode())
        blank.close()
        assert pixels["colours"] > 20 and pixels["differs"] > 0.03, (name, pixels)
        return pixels

    def publish(self, subfolder: str) -> Path:
        """Copy the saved screenshots where a human looks at them."""
        target = shots_dir() / subfolder
        target.mkdir(parents=True, exist_ok=True)
        for path in self.saved:
            shutil.copy2(path, target / path.name)
        return target


def background(page, selector: str) -> str:
    return page.evaluate(f"getComputedStyle(document.querySelector({selector!r})).backgroundColor")
