"""`abcgen eval` and the metrics behind it, on a small exported model and real tunes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import browser
import numpy as np
import pytest
from tiny_models import exported, real_tunes
from without import abcgen_without

from abcgen.runtime.abc.corpus import read_split
from abcgen.runtime.abc.parser import parse
from abcgen.runtime.abc.writer import format_abc
from abcgen.runtime.evaluate.report import (
    CopyIndex,
    bar_lengths,
    bar_texts,
    bits_per_char,
    distance,
    histograms,
    primed_order,
    tune_facts,
)
from abcgen.runtime.evaluate.structure import MEASURES
from abcgen.runtime.generate.onnx_model import Model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return exported(tmp_path_factory.mktemp("emodel"), layers=1, hidden=48, scale=3.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A split folder as `abcgen-train corpus` writes it (tunes apart by a blank line)."""
    folder = tmp_path_factory.mktemp("data")
    tunes = real_tunes(40)
    (folder / "train.txt").write_text("\n\n".join(tunes[:30]), encoding="utf-8")
    (folder / "test.txt").write_text("\n\n".join(tunes[30:]), encoding="utf-8")
    return folder


def test_bits_per_char_agrees_with_torch_scoring_of_the_checkpoint(model_path):
    from abcgen.trainer.checkpoint import load_trained
    from abcgen.trainer.evaluate import bits_per_char as torch_bpc
    from abcgen.trainer.vocab import Vocab

    model, texts = Model(model_path), list(real_tunes(12))
    trained = load_trained(model_path.with_suffix(".pt"))
    vocab = Vocab(trained.vocab)
    reference = torch_bpc(trained.model, [vocab.encode_tune(t) for t in texts])
    assert bits_per_char(model, texts, batch=5) == pytest.approx(reference, rel=1e-5)
    # a batch of one pads nothing: the same number again
    assert bits_per_char(model, texts, batch=1) == pytest.approx(bits_per_char(model, texts))


def test_copied_bars_are_found_and_only_with_the_same_header():
    source = real_tunes(40)[3]
    head, bars = bar_texts(source)
    assert len(bars) >= 6
    index = CopyIndex([source, *real_tunes(40)[10:20]])
    header = source[: source.index("\nK:")] + "\nK:" + head.split("K:")[1] + "\n"
    stolen = header + "|".join(["z8", *bars[1:6], "z8"]) + "|]"
    assert index.longest_run(stolen) >= 5
    transposed = stolen.replace("\nK:", "\nK:X", 1)  # another key: other notes, no copy
    assert index.longest_run(transposed) == 0
    assert index.longest_run(real_tunes(40)[30]) < 4


def test_tune_facts_count_structure():
    text = "M:2/4\nL:1/8\nK:G\n|:A|BcdB|AGFA|1G3A:|2G3||\nd|edcB|d2c2:|"
    facts = tune_facts(text, ended=True, copies=None, abc2midi=False)
    assert facts.valid and facts.repeats == 2 and facts.final_bar
    lengths = bar_lengths(parse(text))
    assert len(lengths) == facts.bars == 8
    # interior bars: all but the pickup and the last; the short ones are G3 and d (pickups)
    assert facts.interior == 6 and facts.exact == sum(x == lengths[1] for x in lengths[1:-1])


def test_histogram_distances():
    tunes = [parse(t) for t in real_tunes(10)]
    h = histograms(tunes)
    assert h["pitch_class"].sum() == sum(
        1 for t in tunes for n in t.notes if n.pitch and not n.grace and n.chord_index == 0)
    same = distance(h["interval"], h["interval"])
    assert same["overlap"] == pytest.approx(1) and same["kl_bits"] < 1e-3
    apart = distance(np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
    assert apart["overlap"] == 0 and apart["kl_bits"] > 5


def run_cli(*args: str) -> subprocess.CompletedProcess:
    code = "from abcgen.runtime.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "eval", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def evaluated(model_path, data, tmp_path_factory):
    """One `abcgen eval` run: its folder and the finished process."""
    out = tmp_path_factory.mktemp("eval") / "eval"
    run = run_cli(str(model_path), "--data", str(data), "--num", "12", "--max-chars", "400",
                  "--temperatures", "0.8,1.0", "--forms", "free,AB", "--part-bars", "2",
                  "--meter", "6/8", "--out", str(out), "--no-abc2midi")
    assert run.returncode == 0, run.stderr
    return out, run


def test_eval_writes_report_plots_and_table(evaluated):
    out, run = evaluated
    report = json.loads((out / "report.json").read_text())
    assert report["test_tunes"] == 10 and 2 < report["test_bpc"] < 10
    names = [r["name"] for r in report["runs"]]
    assert names == ["T0.8 form free", "T0.8 form AB:2", "T0.8 no mask",
                     "T1 form free", "T1 form AB:2", "T1 no mask"]
    for r in report["runs"]:
        assert r["tunes"] == 12 and 0 <= r["aabb"] <= 1 and r["chars"]["median"] > 0
        assert set(r["distance"]) == {"pitch_class", "interval", "note_length", "range"}
    constrained = [r for r in report["runs"] if r["constrained"]]
    assert all(r["valid"] == 1 and r["ended"] == 1 and r["final_bar"] == 1 for r in constrained)
    in_form = [r["forms"] for r in report["runs"] if r["form"] == "AB:2"]
    assert all(f["as_asked"] == 1 and f["ends_on_tonic"] == 1 for f in in_form)
    assert report["test_forms"]["tunes"] == 10 and report["test_forms"]["as_asked"] is None
    for png in ("histograms.png", "forms.png", "bar_errors.png", "structure.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for shown in ("T1 form AB:2", "T0.8 no mask", "bits/char", "test split", "as asked",
                  "structure, beside the test split's"):
        assert shown in run.stdout


def test_eval_reports_structure_beside_the_test_split(evaluated, data):
    out, _ = evaluated
    humans = read_split(data / "test.txt")
    report = json.loads((out / "report.json").read_text())
    keys = {key for key, _ in MEASURES}
    test = report["test_structure"]
    assert test["tunes"] == 10 and keys <= set(test) and test["loops_beyond_test"]["share"] == 0
    assert test["repeated_bars"]["share"] > 0.05  # O'Neill's tunes restate bars
    for run in report["runs"]:
        assert run["structure"]["tunes"] == 12 and keys <= set(run["structure"])
        assert sum(s["tunes"] for s in run["structure"]["by_meter"].values()) == 12
        tune, human = run["pictured"]["tune"], run["pictured"]["human"]
        assert tune is not None and (human is None or human in humans)
        if human is not None:  # a human tune of the same meter
            assert human.split("\n")[0] == tune.split("\n")[0]
    page = (out / "report.html").read_text()
    assert "structure, beside the test split&#x27;s" in page and 'src="structure.png"' in page
    assert page.count("final note a beat or longer") == 1


def test_eval_primes_each_tune_with_a_test_tunes_header(model_path, data, tmp_path):
    out = tmp_path / "primed"
    run = run_cli(str(model_path), "--data", str(data), "--num", "5", "--max-chars", "300",
                  "--forms", "AB", "--part-bars", "2", "--primes", "test", "--out", str(out),
                  "--no-abc2midi", "--scores", "0", "--no-plots")
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    test = read_split(data / "test.txt")
    primed = [test[i] for i in primed_order(test, 5, seed=0)]
    assert report["settings"]["primes"] == "test" and report["primed_structure"]["tunes"] == 5
    for r in report["runs"]:
        for text, human in zip(r["examples"], primed, strict=False):
            assert text.startswith("\n".join(human.split("\n")[:3]) + "\n")
    assert "test tunes primed" in (out / "report.html").read_text()


def test_eval_writes_scores_and_audio_of_sampled_tunes(evaluated):
    out, _ = evaluated
    report = json.loads((out / "report.json").read_text())
    page = (out / "report.html").read_text()
    for run in report["runs"]:  # the first two tunes of each run, by default
        for i, text in enumerate(run["examples"][:2], 1):
            stem = re.sub(r"[^a-z0-9.]+", "-", f"{run['name']} {i}".lower())  # no ':' in names
            svg = (out / "tunes" / f"{stem}.svg").read_text()
            assert f"tunes/{stem}.svg" in page and f"tunes/{stem}.ogg" in page
            assert f"{run['name']} #{i}" in svg  # the title the page gives it
            # each note at least once (a length no single note value shows becomes tied
            # notes: these are a tiny random model's tunes)
            shown = parse(format_abc(text, index=i, title=f"{run['name']} #{i}"))  # as on the page
            if not any(d.severity == "error" for d in shown.diagnostics):  # a score plays as
                # abc2midi does: an invalid tune's unplayed notes (a `|0` ending) are not shown
                assert svg.count('class="note"') >= sum(n.pitch is not None for n in shown.notes)
            assert (out / "tunes" / f"{stem}.ogg").read_bytes()[:4] == b"OggS"
    assert len(list((out / "tunes").glob("*.svg"))) == 2 * len(report["runs"])


@pytest.mark.skipif(not browser.AVAILABLE, reason="needs chromium and chromium-driver")
def test_report_page_opens_in_chromium_with_its_plots_scores_and_audio(evaluated):
    out, _ = evaluated
    with browser.chromium() as driver:
        page = browser.open_page(driver, out / "report.html")
        text = driver.find_element("tag name", "body").text
    assert page["console"] == []
    report = json.loads((out / "report.json").read_text())
    scores = 2 * len(report["runs"])
    assert len(page["images"]) == 4 + scores and all(i["width"] > 0 for i in page["images"])
    assert len(page["audio"]) == scores
    for audio in page["audio"]:
        assert audio["error"] is None and audio["ready"] >= 1 and audio["duration"] > 1
    for shown in (f"{report['test_bpc']:.3f}", "T0.8 no mask", "exact bars", "as asked",
                  "forms by meter"):
        assert shown in text


def test_eval_without_the_render_extra_says_so_before_the_work(model_path, data, tmp_path):
    done = abcgen_without({"verovio"}, "eval", str(model_path), "--data", str(data),
                          "--out", str(tmp_path / "e"))
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: sheet music needs verovio: pip install 'abcgen[render]' "
        "(or leave the tunes out with --scores 0)"]
    assert not (tmp_path / "e" / "report.json").exists()
    done = abcgen_without({"verovio"}, "eval", str(model_path), "--data", str(data), "--num",
                          "4", "--max-chars", "200", "--out", str(tmp_path / "e"), "--scores",
                          "0", "--no-plots", "--no-abc2midi")
    assert done.returncode == 0, done.stderr
    assert "<table>" in (tmp_path / "e" / "report.html").read_text()
    assert not (tmp_path / "e" / "tunes").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.onnx"], "model file not found"),
        (["MODEL", "--temperatures", "hot"], "--temperatures"),
        (["MODEL", "--data", "/nonexistent"], "lacks train.txt"),
        (["MODEL", "--forms", "ABBA"], "parts are lettered"),
        (["MODEL", "--primes", "valid"], "the only source of primes is 'test'"),
        (["MODEL", "--primes", "test", "--meter", "6/8"], "give --meter or --primes"),
    ],
)
def test_eval_fails_clearly(model_path, args, message):
    run = run_cli(*[str(model_path) if a == "MODEL" else a for a in args])
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
