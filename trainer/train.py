"""The training run, readable top to bottom.

Data. Each epoch shuffles the train tunes (the order depends on the seed and the
epoch number alone, so no data RNG needs saving), joins them into one token
stream BOS+text+EOS BOS+text+EOS ... and cuts it into `batch_size x processes`
parallel streams; process r trains on streams r*B .. r*B+B-1, so every process
sees different windows and N processes with batch B learn what one process with
batch N*B learns. An epoch is one pass over the stream.

Truncated backpropagation through time: consecutive `seq_len` windows of each
stream, the LSTM state carried (detached) from one window to the next, so a
window deep inside a tune still knows its header (K:, M:). The state starts at
zero each epoch; the metric (evaluate.py) scores each tune from a zero state.

Resume. `last.pt` holds the weights, AdamW state, the position (epoch, step,
training time), the carried state and the torch RNG of every process, and the
epoch log; the learning rate is a pure function of the step and the training
time, so resuming continues the very same run. Python's and numpy's RNGs are
never used. `best.pt` holds the weights with the best validation bits/char.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.trainer import checkpoint
from abcgen.trainer.distributed import World
from abcgen.trainer.evaluate import score
from abcgen.trainer.model import CharLSTM, ModelConfig
from abcgen.trainer.plot import plot_curves
from abcgen.trainer.presets import PRESETS
from abcgen.trainer.transpose import transpose_tune
from abcgen.trainer.vocab import Vocab

if TYPE_CHECKING:
    from abcgen.runtime.abc.corpus import Corpus


@dataclass
class TrainConfig:
    # -- defaults: the `default` preset, what trained the shipped model (5.4 M parameters;
    #    exported/MODEL_CARD.md has its command, time and scores) --
    # model
    embed: int = 64
    hidden: int = 512
    layers: int = 3
    dropout: float = 0.35  # between LSTM layers and before the output layer
    embed_dropout: float = 0.1  # whole input positions dropped
    weight_drop: float = 0.2  # DropConnect on the recurrent weights
    # data
    seq_len: int = 256  # window of truncated BPTT; the state is carried across windows
    batch_size: int = 64  # streams per process
    transpose: int = 1  # augmentation: each tune shifted by up to +-N semitones per epoch
    # optimisation
    lr: float = 3e-3
    min_lr: float = 1e-4  # end of the cosine decay
    warmup_steps: int = 200
    weight_decay: float = 0.1  # AdamW, on matrices only
    grad_clip: float = 1.0
    ema: float = 0.998  # decay of a moving average of the weights, validated too (0: none)
    epochs: int = 60
    patience: int = 10  # epochs without a better valid bits/char before stopping
    max_minutes: float = 0.0  # training-time budget over all resumes (0: none)
    # run
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads per process (0: available cores / processes on this node)
    amp: bool = True  # bf16 autocast on CUDA
    checkpoint_every: float = 120.0  # seconds between mid-epoch saves of last.pt (0: every step)
    eval_chars: int = 32768  # padded characters per validation batch
    # corpus (recorded so that --resume rebuilds the same one)
    paths: list[str] = field(default_factory=list)  # empty: the default corpus
    keep_chords: bool = False
    preset: str = "default"

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(
            vocab_size=vocab_size,
            embed=self.embed,
            hidden=self.hidden,
            layers=self.layers,
            dropout=self.dropout,
            embed_dropout=self.embed_dropout,
            weight_drop=self.weight_drop,
        )


PLOT_EVERY = 60.0  # seconds; drawing costs about a second, so not after every short epoch

# Options that may change when a run is resumed; everything else must match last.pt.
RESUMABLE = {"epochs", "max_minutes", "patience", "device", "threads", "amp", "checkpoint_every",
             "eval_chars", "ema"}


def config_for(preset: str, **overrides: Any) -> TrainConfig:
    """The preset's config with the given fields replaced (None means: keep the preset's)."""
    if preset not in PRESETS:
        raise AbcgenError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(values) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise AbcgenError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    cfg = TrainConfig(**values, preset=preset)
    _check(cfg)
    return cfg


def resume_config(out: Path, **overrides: Any) -> TrainConfig:
    """The config of the run in `out`, with only the RESUMABLE fields replaced."""
    saved = checkpoint.load_state(Path(out) / "last.pt").get("train_config", {})
    saved = {"ema": 0.0, **saved}  # runs from before --ema averaged nothing
    fixed = sorted(
        k for k, v in overrides.items()
        if v is not None and k not in RESUMABLE and v != saved.get(k)
    )
    if fixed:
        raise AbcgenError(
            f"--resume keeps the run's settings; only {', '.join(sorted(RESUMABLE))} "
            f"may change (got {', '.join(fixed)})"
        )
    try:
        cfg = TrainConfig(**{**saved, **{k: v for k, v in overrides.items() if v is not None}})
    except TypeError as err:
        raise AbcgenError(f"{out}/last.pt holds an unknown training config ({err})") from None
    _check(cfg)
    return cfg


def _check(cfg: TrainConfig) -> None:
    positive = ["embed", "hidden", "layers", "seq_len", "batch_size", "epochs", "patience"]
    if cfg.threads < 0:
        raise AbcgenError("--threads must be 0 (automatic) or more")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise AbcgenError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("dropout", "embed_dropout", "weight_drop"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            raise AbcgenError(f"--{name.replace('_', '-')} must be in [0, 1)")
    if cfg.lr <= 0 or cfg.min_lr < 0 or cfg.max_minutes < 0 or cfg.checkpoint_every < 0:
        raise AbcgenError("--lr must be positive; --min-lr, --max-minutes, --checkpoint-every >= 0")
    if not 0 <= cfg.ema < 1:
        raise AbcgenError("--ema must be in [0, 1)")
    if not 0 <= cfg.transpose <= 6:
        raise AbcgenError("--transpose must be in 0..6 semitones")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise AbcgenError(f"--device must be auto, cpu or cuda, not {cfg.device!r}")


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    model: CharLSTM  # the last weights this process holds (best.pt holds the best)
    out: Path


StepHook = Callable[[dict[str, Any]], None]


def train(
    corpus: Corpus,
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    on_step: StepHook | None = None,
    on_epoch: StepHook | None = None,
) -> TrainResult:
    """Train on `corpus` into the run folder `out`; under torchrun, as one of its processes.

    Only process 0 writes files and calls the hooks. Returns the final metrics,
    which hold the test bits/char of the best checkpoint.
    """
    world = World.start(cfg.device, cfg.threads)
    try:
        return _train(corpus, cfg, Path(out), resume, on_step, on_epoch, world)
    finally:
        world.stop()


def _train(corpus, cfg, out, resume, on_step, on_epoch, world) -> TrainResult:
    device, lead = world.device, world.rank == 0
    if not corpus.train or not corpus.valid:
        raise AbcgenError("training needs tunes in both the train and the valid split")
    if resume and not (out / "last.pt").is_file():
        raise AbcgenError(f"nothing to resume: {out / 'last.pt'} does not exist")
    if not resume and (out / "last.pt").exists():
        raise AbcgenError(f"{out} already holds a run; add --resume or choose another --out")
    if lead:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.tmp"):  # half-written files of a killed run
            stale.unlink(missing_ok=True)
        corpus.write_report(out / "report.json")

    # -- data --------------------------------------------------------------
    vocab = Vocab.from_texts(itertools.chain(corpus.train, corpus.valid, corpus.test))
    train_tokens = [vocab.encode_tune(t) for t in corpus.train]
    # Each process scores its share of a split; the sums are added across processes.
    valid_tokens = [vocab.encode_tune(t) for t in corpus.valid[world.rank :: world.size]]
    test_tokens = [vocab.encode_tune(t) for t in corpus.test[world.rank :: world.size]]
    streams = cfg.batch_size * world.size
    total_chars = sum(len(t) for t in train_tokens)
    steps_per_epoch = (total_chars // streams - 1) // cfg.seq_len
    if steps_per_epoch < 1:
        raise AbcgenError(
            f"the train split ({total_chars} characters) is too small for {streams} streams "
            f"of {cfg.seq_len} characters; lower --batch-size or --seq-len"
        )
    total_steps = steps_per_epoch * cfg.epochs
    mine = slice(world.rank * cfg.batch_size, (world.rank + 1) * cfg.batch_size)

    # -- model and optimizer -------------------------------------------------
    torch.manual_seed(cfg.seed)  # the same initial weights everywhere
    model = CharLSTM(cfg.model_config(len(vocab))).to(device)
    torch.manual_seed(cfg.seed + world.rank)  # different dropout masks per process
    matrices = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    others = [p for n, p in model.named_parameters() if p.dim() < 2 or "embedding" in n]
    optimizer = torch.optim.AdamW(
        [{"params": matrices, "weight_decay": cfg.weight_decay}, {"params": others}],
        lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0,
    )
    # The averaged weights: the last steps' checkpoints averaged, kept when they
    # validate better than the weights of any one step.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None
    pos: dict[str, Any] = dict(
        epoch=0, step=0, global_step=0, elapsed=0.0, loss_sum=0.0, loss_steps=0,
        best_valid=math.inf, best_epoch=0.0, bad_epochs=0, stopped="", corpus=corpus.sha256,
    )
    log: list[dict[str, Any]] = []
    carry = None
    if resume:
        state = checkpoint.load_state(out / "last.pt")
        _check_resumable(state, cfg, corpus, world, out)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and "ema" in state:  # else it starts from the resumed weights
            ema.load_state_dict(state["ema"])
        pos.update(state["progress"])
        log = list(state["log"])
        torch.set_rng_state(state["rng"]["torch"][world.rank])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"][world.rank], device)
        if state.get("carry"):
            carry = tuple(state["carry"][k][world.rank].to(device) for k in ("h", "c"))
    net = model
    if world.size > 1:
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    params = model.num_parameters()

    def save_last(metrics: dict[str, Any], carry) -> None:
        # Collective: every process hands over its RNG and carried state.
        rng = {"torch": world.gather(torch.get_rng_state())}
        if device.type == "cuda":
            rng["cuda"] = world.gather(torch.cuda.get_rng_state(device))
        held = None if carry is None else {"h": world.gather(carry[0]), "c": world.gather(carry[1])}
        if lead:
            checkpoint.save(out / "last.pt", {
                **_weights(model, vocab, cfg, corpus, metrics),
                "optimizer": optimizer.state_dict(),
                "progress": {**pos, "world": world.size},
                "log": log,
                "rng": rng,
                "carry": held,
                **({"ema": ema.state_dict()} if ema is not None else {}),
            })

    # -- the loop -------------------------------------------------------------
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda" and cfg.amp else contextlib.nullcontext()
    )
    budget = cfg.max_minutes * 60.0
    clock0 = time.monotonic() - pos["elapsed"]  # training time carries over resumes
    last_save = last_plot = time.monotonic()
    run_steps, run_time, run_chars = 0, 0.0, 0
    lr = _lr(cfg, pos["global_step"], total_steps, pos["elapsed"], budget)

    def finished() -> str:
        """Why the run is over ('' while it is not); a resumed run may be over already."""
        (out_of_time,) = world.agree(bool(budget) and time.monotonic() - clock0 >= budget)
        if pos["bad_epochs"] >= cfg.patience:
            return "early_stopping"
        if pos["epoch"] >= cfg.epochs:
            return "epochs"
        return "max_minutes" if out_of_time else ""

    stop = finished()
    while not stop:
        data = _epoch_stream(corpus.train, train_tokens, vocab, cfg, pos["epoch"], streams,
                             steps_per_epoch)[mine]
        h, c = carry if carry is not None else model.zero_state(cfg.batch_size, device)
        carry = None
        net.train()
        epoch_time, epoch_chars = 0.0, 0
        while pos["step"] < steps_per_epoch:
            t0 = time.monotonic()
            i = pos["step"] * cfg.seq_len
            x = data[:, i : i + cfg.seq_len].to(device, non_blocking=True)
            y = data[:, i + 1 : i + 1 + cfg.seq_len].to(device, non_blocking=True)
            lr = _lr(cfg, pos["global_step"], total_steps, t0 - clock0, budget)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with amp:
                logits, h, c = net(x, h, c)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            h, c = h.detach().float(), c.detach().float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update_parameters(model)
            value = loss.item()
            pos["step"] += 1
            pos["global_step"] += 1
            pos["loss_sum"] += value
            pos["loss_steps"] += 1
            now = time.monotonic()
            run_steps += 1
            epoch_time += now - t0
            epoch_chars += x.numel() * world.size
            out_of_time, save_due = world.agree(
                budget > 0 and now - clock0 >= budget,
                now - last_save >= cfg.checkpoint_every,
            )
            if lead and on_step is not None:
                rate = epoch_chars / epoch_time if epoch_time else 0.0
                left = (total_steps - pos["global_step"]) * (run_time + epoch_time) / run_steps
                if budget:
                    left = min(left, max(0.0, budget - (now - clock0)))
                on_step(dict(
                    epoch=pos["epoch"] + 1, epochs=cfg.epochs, step=pos["step"],
                    steps=steps_per_epoch, global_step=pos["global_step"],
                    total_steps=total_steps, loss=value, bpc=value / math.log(2), lr=lr,
                    chars_per_s=rate, eta_s=left,
                ))
            if out_of_time:
                stop = "max_minutes"
                break
            if save_due and pos["step"] < steps_per_epoch:
                pos["elapsed"] = now - clock0
                save_last({}, (h, c))
                last_save = time.monotonic()
        run_time += epoch_time
        run_chars += epoch_chars

        # -- end of an epoch (or of the time budget): validate, keep the best ----
        whole = pos["step"] >= steps_per_epoch
        epoch_mark = pos["epoch"] + pos["step"] / steps_per_epoch
        (train_loss,) = world.mean(pos["loss_sum"] / max(1, pos["loss_steps"]))
        valid = _bpc(model, valid_tokens, device, cfg, world)
        averaged = math.inf if ema is None else _bpc(ema.module, valid_tokens, device, cfg, world)
        improved = min(valid, averaged) < pos["best_valid"]
        if improved:
            pos.update(best_valid=min(valid, averaged), best_epoch=epoch_mark, bad_epochs=0)
            if lead:
                best = {"valid_bpc": min(valid, averaged), "epochs": epoch_mark,
                        "params": params, "averaged": averaged < valid}
                chosen = ema.module if averaged < valid else model
                checkpoint.save(out / "best.pt", _weights(chosen, vocab, cfg, corpus, best))
        elif whole:
            pos["bad_epochs"] += 1
        if whole:
            pos.update(epoch=pos["epoch"] + 1, step=0, loss_sum=0.0, loss_steps=0)
            carry = None
        else:
            carry = (h, c)
        row = dict(
            epoch=round(epoch_mark, 4), step=pos["global_step"],
            train_bpc=train_loss / math.log(2), valid_bpc=valid,
            **({"ema_valid_bpc": averaged} if ema is not None else {}), lr=lr,
            chars_per_s=round(epoch_chars / epoch_time if epoch_time else 0.0),
            elapsed_s=round(time.monotonic() - clock0, 2), best=improved,
        )
        log.append(row)
        stop = stop or finished()
        pos.update(elapsed=time.monotonic() - clock0, stopped=stop)
        save_last({}, carry)
        last_save = time.monotonic()
        if lead:
            _write_logs(out, log)
            if stop or time.monotonic() - last_plot >= PLOT_EVERY:
                plot_curves(log, out / "curves.png")
                last_plot = time.monotonic()
            if on_epoch is not None:
                on_epoch(dict(row, stopped=stop))

    # -- the test split: scored once, with the best weights, never for selection --
    world.barrier()
    if not (out / "best.pt").is_file():
        raise AbcgenError("training produced no finite validation score (diverged?)")
    best = checkpoint.load_trained(out / "best.pt").model
    test = _bpc(best.to(device), test_tokens, device, cfg, world)
    norms = world.gather(torch.tensor([_sum_of_squares(model)], dtype=torch.float64))
    metrics = dict(
        valid_bpc=pos["best_valid"],
        test_bpc=test,
        best_epoch=pos["best_epoch"],
        epochs=round(pos["epoch"] + pos["step"] / steps_per_epoch, 4),
        steps=pos["global_step"],
        stopped=stop,
        chars_per_s=round(run_chars / run_time) if run_time else None,
        wall_s=round(pos["elapsed"], 1),
        device=_describe(device, world.size),
        params=params,
        train_chars=total_chars,
        rank_weight_norms=norms.flatten().tolist(),
    )
    save_last(metrics, carry)
    if lead:
        best_state = _weights(best, vocab, cfg, corpus, metrics)
        checkpoint.save(out / "best.pt", best_state)
        checkpoint.save_safetensors(out / "best.safetensors", best_state)
        write_atomic(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return TrainResult(metrics=metrics, model=model, out=out)


# -- helpers -----------------------------------------------------------------


def _epoch_stream(
    texts: Sequence[str], tokens: Sequence[np.ndarray], vocab: Vocab, cfg: TrainConfig,
    epoch: int, streams: int, steps: int,
) -> torch.Tensor:
    """[streams, steps*seq_len + 1] ids: this epoch's shuffled tunes, cut into parallel streams."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    order = torch.randperm(len(tokens), generator=g).tolist()
    if cfg.transpose:
        shifts = torch.randint(-cfg.transpose, cfg.transpose + 1, (len(tokens),), generator=g)
        parts = [_transposed(texts[i], tokens[i], int(shifts[i]), vocab) for i in order]
    else:
        parts = [tokens[i] for i in order]
    width = steps * cfg.seq_len + 1
    stream = np.resize(np.concatenate(parts), streams * width)  # repeats if a bit short
    return torch.from_numpy(stream.reshape(streams, width))


def _transposed(text: str, tokens: np.ndarray, shift: int, vocab: Vocab) -> np.ndarray:
    moved = transpose_tune(text, shift) if shift else None
    if moved is None or not set(moved) <= vocab.ids.keys():
        return tokens
    return vocab.encode_tune(moved)


def _lr(cfg: TrainConfig, step: int, total_steps: int, elapsed: float, budget: float) -> float:
    """Linear warm-up, then cosine decay to min_lr over the steps or the time budget,
    whichever runs out first, so a time-boxed run still ends annealed."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    if budget > 0:
        progress = max(progress, elapsed / budget)
    progress = min(1.0, progress)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _bpc(model: CharLSTM, tokens, device, cfg: TrainConfig, world: World) -> float:
    total, count = score(model, tokens, device, cfg.eval_chars)
    total, count = world.sum(total, count)
    return total / count if count else math.nan


def _weights(model: CharLSTM, vocab: Vocab, cfg: TrainConfig, corpus: Corpus,
             metrics: dict[str, Any]) -> dict[str, Any]:
    """What export needs: the checkpoint keys that checkpoint.load_trained reads."""
    return {
        "config": model.config.to_dict(),
        "vocab": list(vocab.tokens),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": metrics,
        "corpus": corpus.describe(),
        "train_config": asdict(cfg),
    }


def _check_resumable(state: dict, cfg: TrainConfig, corpus: Corpus, world: World,
                     out: Path) -> None:
    progress = state.get("progress", {})
    missing = [key for key in ("progress", "optimizer", "rng", "log") if key not in state]
    if missing:
        raise AbcgenError(f"{out}/last.pt lacks {', '.join(missing)}: it cannot be resumed")
    if progress.get("world") != world.size:
        raise AbcgenError(
            f"{out} was trained by {progress.get('world')} process(es); resume it with as many"
        )
    if progress.get("corpus") != corpus.sha256:
        raise AbcgenError(f"the corpus differs from the one {out} was trained on")
    saved = state.get("train_config", {})
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RESUMABLE and saved.get(f.name) != getattr(cfg, f.name)]
    if changed:
        raise AbcgenError(f"settings differ from the run in {out}: {', '.join(changed)}")


def _write_logs(out: Path, log: list[dict[str, Any]]) -> None:
    write_atomic(out / "log.json", json.dumps(log, indent=1) + "\n")
    text = io.StringIO()
    columns = dict.fromkeys(key for row in log for key in row)  # averaging may start later
    writer = csv.DictWriter(text, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(log)
    write_atomic(out / "log.csv", text.getvalue())


def _sum_of_squares(model: CharLSTM) -> float:
    return float(sum(p.detach().double().pow(2).sum() for p in model.parameters()))


def _describe(device: torch.device, processes: int) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return name if processes == 1 else f"{processes} x {name}"
