"""The page in a real headless Chromium, used as a person uses it: compose a jig in D
in AABB form with the keyboard, see its score and hear it, edit its ABC and see
the problem at its line, download every file (each the one `abcgen convert`
writes), find the tune again after the server restarts; check a tunebook.
The browser's console must stay free of errors throughout.

`python tests/test_serve_browser.py OUT.png` takes the README's screenshot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import browser
import pytest
from cli import run
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from serving import serving, wait_for

pytestmark = pytest.mark.skipif(not browser.AVAILABLE, reason="needs chromium and chromium-driver")
FORMATS = ["abc", "mid", "musicxml", "svg", "wav"]
MEDIA = """
const done = arguments[arguments.length - 1];
const img = document.getElementById('score'), audio = document.getElementById('audio');
const ready = () => img.complete && img.naturalWidth > 0 && audio.readyState >= 1;
const wait = () => ready() || audio.error ? done({width: img.naturalWidth,
    duration: audio.duration, error: audio.error && audio.error.code}) : setTimeout(wait, 100);
wait();
"""


def fill(driver, name: str, value: str) -> None:
    field = driver.find_element(By.NAME, name)
    wait_for(lambda: field.is_displayed() and field.is_enabled())  # (a busy machine)
    field.clear()
    field.send_keys(value)


def errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def compose_jig(driver, url: str, seed: int) -> str:
    """Compose from the page with the keyboard (Enter in the form); the tune's title."""
    driver.get(url + "/")
    fill(driver, "meter", "6/8")
    fill(driver, "tonic", "D")
    fill(driver, "form", "AABB")
    fill(driver, "seed", str(seed))
    driver.find_element(By.NAME, "seed").send_keys(Keys.ENTER)
    title = driver.find_element(By.ID, "tune-title")
    wait_for(lambda: title.text, timeout=120)
    return title.text


def test_compose_see_hear_edit_download_and_find_it_after_a_restart(tmp_path, capsys):
    db, downloads = tmp_path / "archive.sqlite", tmp_path / "downloads"
    downloads.mkdir()
    with serving(db) as server, browser.chromium(1000, 900) as driver:
        driver.execute_cdp_cmd("Page.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads)})
        title = compose_jig(driver, server.url, 21)
        assert title == "abcgen seed 21"
        media = driver.execute_async_script(MEDIA)
        assert media["width"] > 300 and media["duration"] > 5 and media["error"] is None
        meta = driver.find_element(By.ID, "tune-meta").text
        assert meta.startswith("6/8 · D · AABB · seed 21")

        links = driver.find_elements(By.CSS_SELECTOR, "#downloads a")
        assert [a.text for a in links] == [f".{f}" for f in FORMATS]
        for link in links:
            link.click()
        stem = Path(links[0].get_attribute("download")).stem
        wait_for(lambda: all((downloads / f"{stem}.{f}").is_file() for f in FORMATS)
                 and not list(downloads.glob("*.crdownload")), timeout=120)
        for fmt in FORMATS:
            ref = tmp_path / f"ref.{fmt}"
            code, _, err = run(["convert", str(downloads / f"{stem}.abc"), "-o", str(ref)],
                               capsys)
            assert code == 0, err
            assert (downloads / f"{stem}.{fmt}").read_bytes() == ref.read_bytes(), fmt

        abc = driver.find_element(By.ID, "abc")
        lines = abc.get_attribute("value").count("\n")
        abc.send_keys(Keys.CONTROL, Keys.END)
        abc.send_keys("|a4 b4 c'4|]\n")  # a bar three times too long, on a new last line
        problem = wait_for(lambda: [d.text for d in driver.find_elements(
            By.CSS_SELECTOR, "#diagnostics button")], timeout=60)
        assert problem[0].startswith(f"line {lines + 1}, column ") and "error: bar" in problem[0]
        driver.find_elements(By.CSS_SELECTOR, "#diagnostics button")[0].click()
        picked = driver.execute_script(
            "const a = document.getElementById('abc');"
            "return a.value.slice(a.selectionStart, a.selectionEnd)")
        assert picked == "|a4 b4 c'4|]"  # the line at fault
        assert driver.execute_async_script(MEDIA)["width"] > 300  # re-engraved from the edit
        assert not errors(driver)

    with serving(db) as server, browser.chromium() as driver:  # the same archive, restarted
        driver.get(server.url + "/archive")
        fill(driver, "q", "seed 21")
        driver.find_element(By.NAME, "q").send_keys(Keys.ENTER)
        wait_for(lambda: driver.find_element(By.ID, "count").text.startswith("1 tune"))
        row = driver.find_element(By.CSS_SELECTOR, "#list tbody tr")
        assert row.text.split()[:3] == ["abcgen", "seed", "21"] and "AABB" in row.text
        row.find_element(By.TAG_NAME, "a").click()
        wait_for(lambda: driver.find_element(By.ID, "tune-title").text == title)
        assert driver.current_url.endswith("/tune/1")
        assert driver.execute_async_script(MEDIA)["width"] > 300
        assert not errors(driver)


def test_convert_and_check_a_pasted_tunebook(tmp_path):
    book = ("X:1\nT:Fine\nM:2/4\nL:1/8\nK:G\n|:GABc|dedB:|\n\n"
            "X:2\nT:Faulty\nM:3/4\nL:1/8\nK:D\nDEF GAB c|d6|]\n")
    with serving(tmp_path / "a.sqlite") as server, browser.chromium() as driver:
        driver.get(server.url + "/check")
        driver.find_element(By.NAME, "abc").send_keys(book)
        driver.find_element(By.CSS_SELECTOR, "#check-form button").click()
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#checked article")) == 2)
        first, second = driver.find_elements(By.CSS_SELECTOR, "#checked article")
        assert "Tune 1: Fine (line 1)" in first.text and "valid" in first.text
        assert "Tune 2: Faulty (line 8)" in second.text
        assert "line 13, column " in second.text and "error: bar" in second.text
        second.find_element(By.TAG_NAME, "button").click()
        score = wait_for(lambda: second.find_elements(By.TAG_NAME, "img"), timeout=60)[0]
        wait_for(lambda: int(score.get_attribute("naturalWidth") or 0) > 300)
        assert [a.text for a in second.find_elements(By.CSS_SELECTOR, ".downloads a")] == [
            f".{f}" for f in FORMATS]

        upload = tmp_path / "old.abc"  # an old tunebook in Latin-1, read as abcgen check reads it
        upload.write_bytes("X:1\nT:Caf\u00e9\nM:2/4\nL:1/8\nK:G\nGABc|d4|]\n".encode("latin-1"))
        driver.find_element(By.NAME, "file").send_keys(str(upload))
        driver.find_element(By.CSS_SELECTOR, "#check-form button").click()
        wait_for(lambda: "Café" in driver.find_element(By.ID, "checked").text)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#checked article")) == 1
        assert not errors(driver)


def screenshot(out: Path) -> None:
    """The compose view with a jig in D, as the README shows it."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder, serving(Path(folder) / "a.sqlite") as server, \
            browser.chromium(900, 1250) as driver:
        compose_jig(driver, server.url, 21)
        driver.execute_async_script(MEDIA)
        driver.save_screenshot(str(out))
    from PIL import Image  # 64 colours: a third of the size, the same to the eye

    Image.open(out).convert("RGB").quantize(64, method=Image.Quantize.MEDIANCUT).save(
        out, optimize=True)


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]))
