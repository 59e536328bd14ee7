"""Training: a tiny model on a few real tunes, the run folder it leaves, the
metric of DESIGN.md, the schedule, the presets, augmentation and the CLI."""

from __future__ import annotations

import csv
import itertools
import json
import math
import shutil
import subprocess
import sys

import mido
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from typer.testing import CliRunner

from abcgen.runtime.abc.corpus import build_corpus, default_corpus_paths
from abcgen.runtime.errors import AbcgenError
from abcgen.trainer.checkpoint import load_trained
from abcgen.trainer.cli import app
from abcgen.trainer.config import SYNC_EVERY, TrainConfig, config_for, resume_config
from abcgen.trainer.evaluate import bits_per_char, score
from abcgen.trainer.model import CharLSTM, ModelConfig
from abcgen.trainer.stream import TrainStream
from abcgen.trainer.train import _lr, _update_average, train
from abcgen.trainer.transpose import transpose_tune
from abcgen.trainer.vocab import Vocab

SOURCE = default_corpus_paths()[0] / "0001-0050.abc"  # 50 real O'Neill's tunes


@pytest.fixture(scope="module")
def tune_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tunes") / "oneills.abc"
    shutil.copyfile(SOURCE, path)
    return path


@pytest.fixture(scope="module")
def corpus(tune_file):
    return build_corpus([tune_file])


def tiny(**overrides):
    return config_for("tiny", **{"batch_size": 4, "seq_len": 32, "epochs": 3, **overrides})


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    steps: list[dict] = []
    epochs: list[dict] = []
    result = train(corpus, tiny(), out, on_step=steps.append, on_epoch=epochs.append)
    return result, out, steps, epochs


def test_run_folder_holds_checkpoints_logs_plot_and_report(run, corpus):
    result, out, _, epochs = run
    log = json.loads((out / "log.json").read_text())
    assert [row["epoch"] for row in log] == [1, 2, 3]
    assert [row["valid_bpc"] for row in epochs] == [row["valid_bpc"] for row in log]
    with open(out / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["valid_bpc"]) for r in rows] == [row["valid_bpc"] for row in log]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "report.json").read_text())["sha256"] == corpus.sha256
    assert json.loads((out / "metrics.json").read_text()) == result.metrics
    for name in ("best.pt", "last.pt"):  # only tensors and plain containers inside
        state = torch.load(out / name, map_location="cpu", weights_only=True)
        assert state["corpus"] == corpus.describe()
        assert state["train_config"]["preset"] == "tiny"


def test_the_model_learns(run, corpus):
    result, out, _, _ = run
    log = json.loads((out / "log.json").read_text())
    uniform = math.log2(len(load_trained(out / "best.pt").vocab))
    assert log[-1]["valid_bpc"] < log[0]["valid_bpc"]
    assert log[-1]["train_bpc"] < log[0]["train_bpc"]
    assert result.metrics["test_bpc"] < 0.8 * uniform


def test_best_checkpoint_is_chosen_by_valid_and_scored_once_on_test(run, corpus):
    result, out, _, _ = run
    log = json.loads((out / "log.json").read_text())
    m = result.metrics
    assert m["valid_bpc"] == min(row["valid_bpc"] for row in log)
    trained = load_trained(out / "best.pt")
    assert trained.metrics["test_bpc"] == m["test_bpc"]
    vocab = Vocab(trained.vocab)
    test = [vocab.encode_tune(t) for t in corpus.test]
    valid = [vocab.encode_tune(t) for t in corpus.valid]
    assert bits_per_char(trained.model, test) == pytest.approx(m["test_bpc"], abs=1e-9)
    assert bits_per_char(trained.model, valid) == pytest.approx(m["valid_bpc"], abs=1e-9)
    assert m["params"] == trained.model.num_parameters()
    assert m["device"] == "cpu" and m["stopped"] == "epochs" and m["epochs"] == 3


def test_averaged_weights_are_validated_and_kept_when_they_score_better(corpus, tmp_path):
    result = train(corpus, tiny(ema=0.9), tmp_path)
    log = json.loads((tmp_path / "log.json").read_text())
    scores = [min(row["valid_bpc"], row["ema_valid_bpc"]) for row in log]
    assert any(row["ema_valid_bpc"] != row["valid_bpc"] for row in log)
    assert result.metrics["valid_bpc"] == min(scores)
    best = load_trained(tmp_path / "best.pt")  # whichever weights scored best, those
    valid = [Vocab(best.vocab).encode_tune(t) for t in corpus.valid]
    assert bits_per_char(best.model, valid) == pytest.approx(min(scores), abs=1e-9)


def test_weights_are_averaged_as_torch_averages_them():
    """The loop's own update of the averaged weights (no step count copied to the GPU)
    gives torch's AveragedModel.update_parameters, bit for bit."""
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=12, embed=4, hidden=8, layers=2))
    ours, torchs = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
                    for _ in range(2))
    for _ in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        _update_average(ours, model)
        torchs.update_parameters(model)
    a, b = ours.state_dict(), torchs.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert int(a["n_averaged"]) == 4 and not torch.equal(a["module.head.bias"],
                                                         model.head.bias)


def test_best_model_also_as_safetensors(run):
    _, out, _, _ = run
    pt, st = load_trained(out / "best.pt"), load_trained(out / "best.safetensors")
    assert (st.vocab, st.metrics, st.corpus, st.train_config) == (
        pt.vocab, pt.metrics, pt.corpus, pt.train_config)
    a, b = pt.model.state_dict(), st.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_step_reports_come_at_every_sync_and_average_the_loss(run):
    _, out, steps, _ = run
    per_epoch = steps[0]["steps"]
    syncs = sorted({*range(SYNC_EVERY, per_epoch, SYNC_EVERY), per_epoch})
    assert [s["global_step"] for s in steps] == [e * per_epoch + k for e in range(3)
                                                for k in syncs]
    assert all(s["bpc"] == pytest.approx(s["loss"] / math.log(2)) for s in steps)
    assert steps[-1]["eta_s"] == 0 and all(s["chars_per_s"] > 0 for s in steps)
    # Each report is the mean since the last one: together, the epoch's train bits/char.
    log = json.loads((out / "log.json").read_text())
    for epoch, row in enumerate(log):
        reports = [s for s in steps if s["epoch"] == epoch + 1]
        counts = np.diff([0] + [s["step"] for s in reports])
        mean = sum(s["bpc"] * n for s, n in zip(reports, counts, strict=True)) / per_epoch
        assert mean == pytest.approx(row["train_bpc"], rel=1e-9)


def test_metric_is_the_per_tune_definition(corpus):
    """Batched, padded scoring equals scoring each tune alone, character by character."""
    vocab = Vocab.from_texts(corpus.train + corpus.valid + corpus.test)
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=len(vocab), embed=8, hidden=16, layers=2))
    tunes = [vocab.encode_tune(t) for t in corpus.train[:6]]
    bits, count = 0.0, 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of one-character steps: threads only get in the way
    with torch.no_grad():
        model.eval()
        for ids in tunes:
            h, c = model.zero_state(1)
            for a, b in itertools.pairwise(ids):
                logits, h, c = model(torch.tensor([[a]]), h, c)
                bits -= F.log_softmax(logits[0, 0].double(), -1)[b].item() / math.log(2)
                count += 1
    torch.set_num_threads(threads)
    total, n = score(model, tunes, batch_chars=700)  # several batches of mixed lengths
    assert n == count == sum(len(t) - 1 for t in tunes)
    assert total == pytest.approx(bits, rel=1e-6)


def test_schedule_warms_up_then_decays_to_min_lr_by_steps_or_time():
    cfg = tiny(lr=1e-2, min_lr=1e-3, warmup_steps=10)
    assert _lr(cfg, 0, 100, 0, 0) == pytest.approx(1e-3)
    assert _lr(cfg, 9, 100, 0, 0) == pytest.approx(1e-2)
    lrs = [_lr(cfg, s, 100, 0, 0) for s in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))
    assert lrs[-1] == pytest.approx(1e-3)
    # A time budget half spent is half-way down the cosine, whatever the step.
    assert _lr(cfg, 10, 1000, 30.0, 60.0) == pytest.approx(1e-3 + 0.5 * 9e-3)


def test_time_budget_ends_with_validation_checkpoint_and_test(corpus, tmp_path):
    config = tiny(epochs=500, patience=500, max_minutes=0.05, warmup_steps=0)
    result = train(corpus, config, tmp_path)
    m = result.metrics
    assert m["stopped"] == "max_minutes" and m["epochs"] < 500
    assert math.isfinite(m["test_bpc"]) and (tmp_path / "best.pt").is_file()
    log = json.loads((tmp_path / "log.json").read_text())
    assert log[-1]["epoch"] == m["epochs"]
    assert log[-1]["lr"] < 0.5 * 1e-2  # annealed by time: by steps it would be near 1e-2


def test_run_folders_are_never_overwritten(run, corpus, tmp_path):
    _, out, _, _ = run
    with pytest.raises(AbcgenError, match="already holds a run"):
        train(corpus, tiny(), out)
    with pytest.raises(AbcgenError, match="nothing to resume"):
        train(corpus, tiny(), tmp_path / "new", resume=True)


def test_resume_keeps_the_runs_settings(run):
    _, out, _, _ = run
    assert resume_config(out, epochs=9, hidden=64).epochs == 9  # 64 is the saved size
    with pytest.raises(AbcgenError, match=r"only .* may change"):
        resume_config(out, hidden=128)


def test_averaging_may_start_when_a_run_is_resumed(run, corpus, tmp_path):
    _, out, _, _ = run
    shutil.copytree(out, tmp_path / "run")
    train(corpus, resume_config(tmp_path / "run", epochs=4, ema=0.9), tmp_path / "run",
          resume=True)
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert "ema_valid_bpc" not in log[2] and math.isfinite(log[3]["ema_valid_bpc"])


def test_bad_settings_are_clear_errors(corpus, tmp_path):
    with pytest.raises(AbcgenError, match="too small"):
        train(corpus, tiny(batch_size=64, seq_len=256), tmp_path)
    with pytest.raises(AbcgenError, match="unknown preset"):
        config_for("huge")
    with pytest.raises(AbcgenError, match="dropout"):
        config_for("tiny", dropout=1.5)


def test_presets_match_the_design():
    vocab = 96
    seed = CharLSTM(ModelConfig.for_training(config_for("seed"), vocab)).num_parameters()
    default = CharLSTM(ModelConfig.for_training(config_for("default"), vocab)).num_parameters()
    assert 1.8e6 < seed < 2.0e6  # "1.9 M parameters"
    assert default <= 8e6  # real-time CPU generation budget
    cfg = config_for("seed")
    assert (cfg.embed, cfg.hidden, cfg.layers, cfg.dropout) == (512, 256, 3, 0.2)
    assert (cfg.seq_len, cfg.batch_size) == (64, 16)
    # The model's shape comes from the training config, field by field: one set of defaults.
    shape = ModelConfig.for_training(TrainConfig(), vocab).to_dict()
    assert {k: getattr(TrainConfig(), k) for k in shape if k != "vocab_size"} == {
        k: v for k, v in shape.items() if k != "vocab_size"}


def test_batch_size_auto_follows_the_device():
    cpu, gpu = config_for("default", device="cpu"), config_for("default", device="cuda")
    assert (cpu.batch_size, cpu.lr) == (64, TrainConfig.lr)
    assert (gpu.batch_size, gpu.lr) == (128, 4e-3)  # the model card's batch-128 run
    assert config_for("default", device="cuda", lr=2e-3).lr == 2e-3  # a given rate stays
    assert config_for("default", device="cuda", batch_size=64).batch_size == 64
    assert config_for("tiny", device="cuda").batch_size == 32  # presets name their own
    with pytest.raises(AbcgenError, match="config_for"):
        train(None, TrainConfig(), "unused")


def _pitches(text: str, tmp_path) -> list[int]:
    abc, mid = tmp_path / "t.abc", tmp_path / "t.mid"
    abc.write_text("X:1\n" + text + "\n")
    mid.unlink(missing_ok=True)
    subprocess.run(["abc2midi", str(abc), "-o", str(mid)], capture_output=True, check=True)
    return [m.note for m in mido.MidiFile(mid) if m.type == "note_on" and m.velocity]


def test_transposition_moves_every_sounding_pitch(corpus, tmp_path):
    """abc2midi is the judge: every note of the transposed tune sounds `shift` higher."""
    tunes = [t.replace("~", "") for t in corpus.train[:12]]  # rolls are played as extra notes
    moved = 0
    for shift in (-5, -1, 1, 2, 6):
        for tune in tunes:
            out = transpose_tune(tune, shift)
            if out is None:
                continue
            moved += 1
            before, after = _pitches(tune, tmp_path), _pitches(out, tmp_path)
            assert before and after == [p + shift for p in before], (shift, tune, out)
    assert moved >= 0.8 * 5 * len(tunes)


def _per_epoch_transposition(texts, vocab, seed, transpose, epoch, streams, width):
    """The trainer's data before transpositions were computed once: every tune
    transposed anew at the start of each epoch (the reference)."""
    tokens = [vocab.encode_tune(t) for t in texts]
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(tokens), generator=g).tolist()
    shifts = torch.randint(-transpose, transpose + 1, (len(tokens),), generator=g)
    parts = []
    for i in order:
        moved = transpose_tune(texts[i], int(shifts[i])) if shifts[i] else None
        ok = moved is not None and set(moved) <= vocab.ids.keys()
        parts.append(vocab.encode_tune(moved) if ok else tokens[i])
    return np.resize(np.concatenate(parts), streams * width).reshape(streams, width)


def test_precomputed_transpositions_give_the_tunes_of_per_epoch_transposition(corpus):
    vocab = Vocab.from_texts(corpus.train + corpus.valid + corpus.test)
    width = sum(len(t) + 2 for t in corpus.train) // 4
    for seed, transpose in ((1337, 1), (7, 3)):
        stream = TrainStream(corpus.train, vocab, transpose, seed)
        plain = TrainStream(corpus.train, vocab, 0, seed)
        for epoch in (0, 1, 9):
            got = stream.epoch(epoch, 4, width).numpy()
            want = _per_epoch_transposition(corpus.train, vocab, seed, transpose, epoch, 4, width)
            assert np.array_equal(got, want), (seed, transpose, epoch)
            assert not np.array_equal(got, plain.epoch(epoch, 4, width).numpy())  # tunes moved


def test_transposition_augments_training(corpus, tmp_path):
    result = train(corpus, tiny(epochs=1, transpose=3), tmp_path)
    assert math.isfinite(result.metrics["valid_bpc"])


def test_dropconnect_masks_the_recurrent_weights_of_a_plain_lstm():
    """What the model computes with DropConnect is nn.LSTM run with its recurrent
    matrices masked, the masks drawn in the same order; its weights stay nn.LSTM's."""
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=20, embed=8, hidden=16, layers=2, weight_drop=0.5))
    tokens = torch.randint(0, 20, (3, 12))
    torch.manual_seed(1)
    logits, hn, cn = model(tokens)
    torch.manual_seed(1)
    lstm = model.lstm
    masked = {n: F.dropout(w, 0.5) if n.startswith("weight_hh") else w
              for n, w in lstm.named_parameters()}
    y, (h, c) = functional_call(lstm, masked, (model.embedding(tokens),))
    assert torch.equal(logits, model.head(y)) and torch.equal(hn, h) and torch.equal(cn, c)
    model.eval()
    assert not torch.equal(model(tokens)[0], logits)  # evaluation masks nothing
    assert [n for n, _ in model.named_parameters()] == [
        "embedding.weight", *(f"lstm.{n}" for n, _ in lstm.named_parameters()), "head.weight",
        "head.bias"]


def test_cli_trains_and_writes_the_corpus(tune_file, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    got = runner.invoke(app, ["fit", str(tune_file), "--preset", "tiny", "--batch-size", "4",
                              "--seq-len", "32", "--epochs", "1", "--out", str(out), "-q"])
    assert got.exit_code == 0, got.output
    assert "test" in got.stdout and (out / "best.pt").is_file()
    got = runner.invoke(app, ["corpus", str(tune_file), "--out", str(tmp_path / "data")])
    assert got.exit_code == 0, got.output
    assert "kept" in got.stdout
    text = (tmp_path / "data" / "train.txt").read_text()
    assert text.count("\n\nM:") == len(build_corpus([tune_file]).train) - 1


def test_cli_bad_input_exits_2_with_a_message(tmp_path):
    (tmp_path / "junk.abc").write_bytes(b"\xff\xfe not a tune\n" * 10)
    for args in (["corpus", str(tmp_path), "--out", str(tmp_path / "d")],
                 [str(tmp_path), "--preset", "tiny", "--out", str(tmp_path / "r")]):
        proc = subprocess.run([sys.executable, "-m", "abcgen.trainer.cli", *args],
                              capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()
    got = CliRunner().invoke(app, ["fit", "--preset", "huge", str(tmp_path)])
    assert isinstance(got.exception, AbcgenError) and "unknown preset" in str(got.exception)
