"""Resume: a run stopped mid-epoch (by an exception, or by SIGKILL from outside)
continues from last.pt and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from abcgen.runtime.abc.corpus import build_corpus, default_corpus_paths
from abcgen.trainer.config import config_for
from abcgen.trainer.train import train

SOURCE = default_corpus_paths()[0] / "0001-0050.abc"  # 50 real O'Neill's tunes
# Every kind of dropout on, so the RNG state must be restored for an exact match; the
# averaged weights carry over too, and the epoch's transpositions are drawn again.
SETTINGS = dict(batch_size=4, seq_len=32, epochs=2, dropout=0.2, embed_dropout=0.1,
                weight_drop=0.2, ema=0.9, transpose=2)
TIMING = {"chars_per_s", "elapsed_s"}  # the only log fields that may differ


@pytest.fixture(scope="module")
def tune_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tunes") / "oneills.abc"
    shutil.copyfile(SOURCE, path)
    return path


def _weights(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {**state["model"], **{f"ema.{k}": v for k, v in state["ema"].items()}}


def _same_run(a, b):
    wa, wb = _weights(a / "last.pt"), _weights(b / "last.pt")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    la, lb = (json.loads((d / "log.json").read_text()) for d in (a, b))
    strip = [[{k: v for k, v in row.items() if k not in TIMING} for row in log] for log in (la, lb)]
    assert strip[0] == strip[1]
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert (ma["valid_bpc"], ma["test_bpc"], ma["steps"]) == (mb["valid_bpc"], mb["test_bpc"],
                                                             mb["steps"])


class Interrupt(Exception):
    pass


def test_interrupted_mid_epoch_resumes_to_the_same_result(tune_file, tmp_path):
    corpus = build_corpus([tune_file])
    cfg = config_for("tiny", checkpoint_every=0.05, **SETTINGS)
    train(corpus, cfg, tmp_path / "whole")

    def interrupt(info):
        if info["epoch"] == 2 and info["step"] == 60:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(corpus, cfg, tmp_path / "cut", on_step=interrupt)
    progress = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["progress"]
    assert progress["epoch"] == 1 and 0 < progress["step"] < 60  # a mid-epoch save
    train(corpus, cfg, tmp_path / "cut", resume=True)
    _same_run(tmp_path / "whole", tmp_path / "cut")


def _cli(*args):
    return [sys.executable, "-m", "abcgen.trainer.cli", *args]


def test_sigkill_mid_epoch_then_resume_finishes_the_same_run(tune_file, tmp_path):
    options = ["--preset", "tiny", "--checkpoint-every", "0.05", "-q"]
    for k, v in SETTINGS.items():
        options += [f"--{k.replace('_', '-')}", str(v)]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    subprocess.run(_cli(str(tune_file), *options, "--out", str(whole)), check=True,
                   capture_output=True)

    proc = subprocess.Popen(_cli(str(tune_file), *options, "--out", str(cut)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait for a checkpoint written in the middle of the second epoch, then kill -9.
        while proc.poll() is None:
            try:
                progress = torch.load(cut / "last.pt", weights_only=True)["progress"]
            except (FileNotFoundError, EOFError, RuntimeError):
                progress = {"epoch": 0, "step": 0}
            if progress["epoch"] >= 1 and progress["step"] > 0:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = torch.load(cut / "last.pt", weights_only=True)  # atomic: always whole
    assert state["progress"]["step"] > 0 or state["progress"]["epoch"] >= 2
    assert not (cut / "metrics.json").exists()

    resumed = subprocess.run(_cli(*options, "--resume", "--out", str(cut)),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(cut.glob("*.tmp"))
    _same_run(whole, cut)
