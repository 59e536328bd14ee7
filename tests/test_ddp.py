"""Two torchrun processes (gloo, CPU) with batch B learn what one process with
batch 2B learns: each process trains on its own half of the streams and DDP
averages the gradients. Dropout is off so the two runs are comparable step by step."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from abcgen.runtime.abc.corpus import default_corpus_paths

SOURCE = default_corpus_paths()[0] / "0001-0050.abc"  # 50 real O'Neill's tunes


def _run(prefix: list[str], tune_file, out, batch: int) -> dict:
    proc = subprocess.run(
        [*prefix, str(tune_file), "--preset", "tiny", "--seq-len", "32", "--epochs", "2",
         "--batch-size", str(batch), "--out", str(out), "-q"],
        capture_output=True, text=True, cwd=out.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_two_gloo_processes_learn_what_one_process_learns(tmp_path):
    tune_file = tmp_path / "oneills.abc"
    shutil.copyfile(SOURCE, tune_file)
    one = _run([sys.executable, "-m", "abcgen.trainer.cli"], tune_file, tmp_path / "one", 8)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", "-m", "abcgen.trainer.cli"]
    two = _run(torchrun, tune_file, tmp_path / "two", 4)

    assert two["device"] == "2 x cpu" and one["device"] == "cpu"
    norms = two["rank_weight_norms"]
    assert len(norms) == 2 and norms[0] == norms[1]  # weights in sync across the ranks
    assert two["steps"] == one["steps"]  # same streams, half of them per process
    logs = [json.loads((tmp_path / d / "log.json").read_text()) for d in ("one", "two")]
    for a, b in zip(*logs, strict=True):
        assert b["train_bpc"] == pytest.approx(a["train_bpc"], abs=1e-4)
        assert b["valid_bpc"] == pytest.approx(a["valid_bpc"], abs=1e-4)
    assert two["test_bpc"] == pytest.approx(one["test_bpc"], abs=1e-4)
    wa, wb = (torch.load(tmp_path / d / "best.pt", weights_only=True)["model"]
              for d in ("one", "two"))
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4), k
    assert not list((tmp_path / "two").glob("*.tmp"))
