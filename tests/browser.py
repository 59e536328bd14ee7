"""Real headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium: pages are opened as a person would open them, their console read,
and what they show saved as PNG.

Selenium is given both binaries, so its driver manager never looks for (or
downloads) a browser. Chromium runs with the flags this machine needs: no
sandbox as root, no GPU, and no background connections, which the closed
network would refuse.

`python tests/browser.py SCORE.svg OUT.png` renders one SVG to PNG (how
docs/sample-tune.png is made).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
AVAILABLE = bool(CHROMIUM and CHROMEDRIVER)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

# Waits for every <audio> to load its metadata (or fail) and every <img> to
# finish, then reports what each got.
LOADED = """
const done = arguments[arguments.length - 1];
const settle = el => new Promise(ok => {
  if (el.tagName === 'IMG' ? el.complete : el.readyState >= 1 || el.error) return ok();
  for (const name of ['load', 'loadedmetadata', 'error']) el.addEventListener(name, ok);
});
const media = [...document.images, ...document.querySelectorAll('audio')];
Promise.all(media.map(settle)).then(() => done({
  images: [...document.images].map(i => ({src: i.src, width: i.naturalWidth})),
  audio: [...document.querySelectorAll('audio')].map(a => ({
    src: a.src, ready: a.readyState, duration: a.duration, error: a.error && a.error.code})),
}));
"""


@contextlib.contextmanager
def chromium(width: int = 1000, height: int = 800) -> Iterator:
    """A fresh headless Chromium (its own profile folder) that records the console."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="abcgen-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_script_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def open_page(driver, path: Path) -> dict:
    """Open `path`, wait for its images and audio, return what loaded and the console."""
    driver.get(path.resolve().as_uri())
    loaded = driver.execute_async_script(LOADED)
    loaded["console"] = driver.get_log("browser")
    return loaded


def svg_to_png(svg: Path, png: Path) -> None:
    """The SVG as Chromium draws it, cut to the drawing's own size."""
    from selenium.webdriver.common.by import By

    with chromium(1200, 3000) as driver:
        driver.get(svg.resolve().as_uri())
        driver.execute_script("document.documentElement.style.background = 'white'")
        png.write_bytes(driver.find_element(By.TAG_NAME, "svg").screenshot_as_png)


if __name__ == "__main__":
    svg_to_png(Path(sys.argv[1]), Path(sys.argv[2]))
