"""Open a report in headless Chromium: a screenshot, and whether every image decoded."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

# Flags for a closed network: no background connections, no first-run or sync traffic.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class BrowserError(RuntimeError):
    """Chromium is missing or could not render the page."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise BrowserError("chromium not found: run scripts/install_browser.sh")
    return found


def render(page: Path, screenshot: Path, width: int = 1200, height: int = 2400) -> dict[str, int]:
    """Screenshot `page` and count its images and the ones that failed to decode."""
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        subprocess.run([*base, f"--window-size={width},{height}", f"--screenshot={screenshot}", url],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    body = re.search(r"<body([^>]*)>", dom.stdout)
    attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1))) if body else {}
    if "images" not in attrs or not Path(screenshot).exists():
        raise BrowserError(f"chromium did not render {page}: {dom.stderr[-500:]}")
    return {"images": int(attrs["images"]), "broken": int(attrs["broken-images"])}
