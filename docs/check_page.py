"""Render a tour page in headless Chromium at a desktop and a phone width, and check it as a reader
would see it: every image loaded, nothing wider than the screen (a wide table scrolls inside its own
box, which is allowed), the viewport tag present. Saves a screenshot at each width in the system's
temporary folder, for a look.

    python docs/check_page.py docs/tour/index.html        # needs Debian's chromium (apt-get install chromium)

Prints one line per width and exits 1 if a check fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = {"desktop": 1280, "phone": 390}
PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const wide = [...document.body.querySelectorAll("*")].filter(el => {
    const r = el.getBoundingClientRect();
    return r.right > window.innerWidth + 1 && !el.closest(".wide, pre");
  }).map(el => el.tagName + (el.className ? "." + el.className : ""));
  parent.document.body.setAttribute("data-check", JSON.stringify({images: document.images.length, broken,
    wide: [...new Set(wide)].slice(0, 5), scroll: document.documentElement.scrollWidth, width: window.innerWidth}));
});
</script></body>"""
# Headless Chromium's window is at least 500 px wide, so the page is measured in a frame of each width.
FRAME = ('<!doctype html><body style="margin:0"><iframe src="{src}" style="border:0;width:{width}px;height:900px">'
         '</iframe></body>')
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--allow-file-access-from-files", "--virtual-time-budget=10000"]


def check(page: Path, chromium: str) -> bool:
    import json

    text = page.read_text()
    ok = 'name="viewport"' in text
    if not ok:
        print(f"{page}: no viewport tag")
    probe = page.with_name(".check-" + page.name)
    probe.write_text(text.replace("</body>", PROBE, 1))
    frame = page.with_name(".check-frame.html")
    try:
        for name, width in WIDTHS.items():
            with tempfile.TemporaryDirectory() as profile:
                base = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={max(width, 500)},900"]
                frame.write_text(FRAME.format(src=probe.name, width=width))
                dom = subprocess.run([*base, "--dump-dom", frame.as_uri()], capture_output=True, text=True,
                                     timeout=120).stdout
                shot = Path(tempfile.gettempdir()) / f"{page.parent.name}-{name}.png"
                frame.write_text(FRAME.format(src=page.name, width=width).replace("900px", "2400px"))
                subprocess.run([*base[:-1], f"--window-size={max(width, 500)},2400", f"--screenshot={shot}",
                                frame.as_uri()], capture_output=True, timeout=120)
            found = re.search(r'data-check="([^"]*)"', dom)
            if not found:
                print(f"{name} ({width} px): the page did not finish loading")
                ok = False
                continue
            r = json.loads(found.group(1).replace("&quot;", '"'))
            good = not r["broken"] and not r["wide"] and r["scroll"] <= r["width"]
            ok &= good
            print(f"{name} ({width} px): {r['images']} images, {len(r['broken'])} broken {r['broken'][:3]}, "
                  f"page {r['scroll']} px wide, cut off: {r['wide'] or 'nothing'}; screenshot {shot}"
                  + ("" if good else "  FAILED"))
    finally:
        probe.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    return ok


if __name__ == "__main__":
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    page = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/tour/index.html").resolve()
    if not page.is_file():
        sys.exit(f"{page}: no such page")
    sys.exit(0 if check(page, chromium) else 1)
