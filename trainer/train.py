"""The training run, top to bottom, after nanoGPT's train.py: `train` builds the
data, the model and its optimizer, runs the loop, and scores the test split once
with the best weights. The defaults and presets are config.py's.

Data (stream.py). Each epoch shuffles the train tunes, moves each by a few
semitones, joins them into one token stream and cuts it into
`batch_size x processes` parallel streams; process r trains on streams
r*B .. r*B+B-1, so N processes with batch B learn what one process with batch
N*B learns. An epoch is one pass over the stream, which lives on the device.

Truncated backpropagation through time: consecutive `seq_len` windows of each
stream, the LSTM state carried (detached) from one window to the next, so a
window deep inside a tune still knows its header (K:, M:). The state starts at
zero each epoch; the metric (evaluate.py) scores each tune from a zero state.

Syncs. A GPU runs ahead of Python only while Python does not wait for it: the
loss is summed on the device and read every SYNC_EVERY steps and at the end of
an epoch, and only there are progress reported and the time budget and
mid-epoch checkpoints decided, by process 0's clock for all processes.

Resume. `last.pt` holds the weights, AdamW state, the position (Progress), the
carried state and the torch RNG of every process, and the epoch log; the
learning rate is a pure function of the step and the training time, so resuming
continues the very same run. Python's and numpy's RNGs are never used.
`best.pt` holds the weights with the best validation bits/char.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from abcgen.runtime.atomic import write_atomic
from abcgen.runtime.errors import AbcgenError
from abcgen.trainer import checkpoint
from abcgen.trainer.checkpoint import Progress
from abcgen.trainer.config import RESUMABLE, SYNC_EVERY, TrainConfig, check
from abcgen.trainer.distributed import World
from abcgen.trainer.evaluate import score
from abcgen.trainer.model import CharLSTM, ModelConfig
from abcgen.trainer.plot import plot_curves
from abcgen.trainer.stream import TrainStream
from abcgen.trainer.vocab import Vocab

if TYPE_CHECKING:
    from abcgen.runtime.abc.corpus import Corpus


PLOT_EVERY = 60.0  # seconds; drawing costs about a second, so not after every short epoch


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    model: CharLSTM  # the last weights this process holds (best.pt holds the best)
    out: Path


Hook = Callable[[dict[str, Any]], None]


def train(
    corpus: Corpus,
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    on_step: Hook | None = None,
    on_epoch: Hook | None = None,
) -> TrainResult:
    """Train on `corpus` into the run folder `out`; under torchrun, as one of its processes.

    Only process 0 writes files and calls the hooks: `on_step` at every sync
    (each SYNC_EVERY steps and an epoch's last), `on_epoch` with each log row.
    Returns the final metrics, which hold the test bits/char of the best checkpoint.
    """
    if cfg.batch_size == "auto":
        raise AbcgenError("batch_size auto is chosen for the device by config_for: use it")
    check(cfg)
    world = World.start(cfg.device, cfg.threads)
    try:
        result = _run(corpus, cfg, Path(out), resume, on_step, on_epoch, world)
        world.barrier()  # no process takes the group down while another still writes
        return result
    finally:
        world.stop()


def _run(corpus: Corpus, cfg: TrainConfig, out: Path, resume: bool, on_step: Hook | None,
         on_epoch: Hook | None, world: World) -> TrainResult:
    device, lead = world.device, world.rank == 0
    _open_run_folder(corpus, out, resume, lead)

    # -- data: token ids, every transposition computed once ---------------------
    vocab = Vocab.from_texts(itertools.chain(corpus.train, corpus.valid, corpus.test))
    tunes = TrainStream(corpus.train, vocab, cfg.transpose, cfg.seed)
    # Each process scores its share of a split; the sums are added across processes.
    valid_tokens = [vocab.encode_tune(t) for t in corpus.valid[world.rank :: world.size]]
    test_tokens = [vocab.encode_tune(t) for t in corpus.test[world.rank :: world.size]]
    streams = cfg.batch_size * world.size
    steps_per_epoch = (tunes.chars // streams - 1) // cfg.seq_len
    if steps_per_epoch < 1:
        raise AbcgenError(
            f"the train split ({tunes.chars} characters) is too small for {streams} streams "
            f"of {cfg.seq_len} characters; lower --batch-size or --seq-len"
        )
    total_steps = steps_per_epoch * cfg.epochs
    mine = slice(world.rank * cfg.batch_size, (world.rank + 1) * cfg.batch_size)

    # -- model, optimizer, averaged weights, and where a resumed run stands ---------
    torch.manual_seed(cfg.seed)  # the same initial weights everywhere
    model = CharLSTM(ModelConfig.for_training(cfg, len(vocab))).to(device)
    torch.manual_seed(cfg.seed + world.rank)  # different dropout masks per process
    optimizer = _adamw(model, cfg)
    # The averaged weights: the last steps' checkpoints averaged, kept when they
    # validate better than the weights of any one step.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None
    progress = Progress(corpus=corpus.sha256, world=world.size)
    log: list[dict[str, Any]] = []
    carry = None
    if resume:
        progress, log, carry = _restore(out, cfg, corpus, world, model, optimizer, ema)
    net = model
    if world.size > 1:
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    params = model.num_parameters()
    export_state = functools.partial(checkpoint.export_state, vocab=vocab.tokens,
                                     corpus=corpus.describe(), train_config=asdict(cfg))

    # -- the loop -------------------------------------------------------------------
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda" and cfg.amp else contextlib.nullcontext()
    )
    budget = cfg.max_minutes * 60.0
    clock0 = time.monotonic() - progress.elapsed  # training time carries over resumes
    elapsed = progress.elapsed  # process 0's clock at the last sync
    last_save = last_plot = time.monotonic()
    run_steps, run_time, run_chars = 0, 0.0, 0  # steps of this process's run, for speed
    lr = _lr(cfg, progress.global_step, total_steps, elapsed, budget)
    stop = _why_stop(progress, cfg, budget, elapsed)
    while not stop:
        data = tunes.epoch(progress.epoch, streams, steps_per_epoch * cfg.seq_len + 1)
        data = data[mine].to(device)
        h, c = carry if carry is not None else model.zero_state(cfg.batch_size, device)
        loss_sum = torch.tensor(progress.loss_sum, dtype=torch.float64, device=device)
        reported_sum, reported_steps = progress.loss_sum, progress.loss_steps
        epoch_time, epoch_chars, out_of_time = 0.0, 0, False
        net.train()
        mark = time.monotonic()
        while progress.step < steps_per_epoch and not out_of_time:
            i = progress.step * cfg.seq_len
            x, y = data[:, i : i + cfg.seq_len], data[:, i + 1 : i + 1 + cfg.seq_len]
            lr = _lr(cfg, progress.global_step, total_steps, elapsed, budget)
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
                _update_average(ema, model)
            loss_sum += loss.detach()  # on the device: reading it every step would wait
            progress.step += 1
            progress.global_step += 1
            progress.loss_steps += 1
            if progress.step % SYNC_EVERY and progress.step < steps_per_epoch:
                continue

            # -- a sync: read the loss, report, and decide by process 0's clock ---------
            progress.loss_sum = loss_sum.item()
            now = time.monotonic()
            steps = progress.loss_steps - reported_steps
            epoch_time += now - mark
            epoch_chars += steps * cfg.seq_len * streams
            run_steps += steps
            elapsed, save_due = world.agree(now - clock0, now - last_save >= cfg.checkpoint_every)
            out_of_time = budget > 0 and elapsed >= budget
            if lead and on_step is not None:
                mean = (progress.loss_sum - reported_sum) / steps  # since the last sync
                left = (total_steps - progress.global_step) * (run_time + epoch_time) / run_steps
                on_step(dict(
                    epoch=progress.epoch + 1, epochs=cfg.epochs, step=progress.step,
                    steps=steps_per_epoch, global_step=progress.global_step,
                    total_steps=total_steps, loss=mean, bpc=mean / math.log(2), lr=lr,
                    chars_per_s=epoch_chars / epoch_time if epoch_time else 0.0,
                    eta_s=min(left, max(0.0, budget - elapsed)) if budget else left,
                ))
            reported_sum, reported_steps = progress.loss_sum, progress.loss_steps
            if save_due and not out_of_time and progress.step < steps_per_epoch:
                progress.elapsed = elapsed
                checkpoint.save_last(out / "last.pt", world, export_state(model), optimizer,
                                     ema, progress, log, (h, c))
                last_save = time.monotonic()
            mark = time.monotonic()
        run_time += epoch_time
        run_chars += epoch_chars

        # -- end of an epoch (or of the time budget): validate, keep the best ------------
        whole = progress.step >= steps_per_epoch
        epoch_mark = progress.epoch + progress.step / steps_per_epoch
        (train_loss,) = world.mean(progress.loss_sum / max(1, progress.loss_steps))
        valid = _bpc(model, valid_tokens, device, cfg, world)
        averaged = math.inf if ema is None else _bpc(ema.module, valid_tokens, device, cfg, world)
        improved = min(valid, averaged) < progress.best_valid
        if improved:
            progress.best_valid, progress.best_epoch = min(valid, averaged), epoch_mark
            progress.bad_epochs = 0
            if lead:
                best = {"valid_bpc": min(valid, averaged), "epochs": epoch_mark,
                        "params": params, "averaged": averaged < valid}
                chosen = ema.module if averaged < valid else model
                checkpoint.save(out / "best.pt", export_state(chosen, best))
        elif whole:
            progress.bad_epochs += 1
        if whole:
            progress.epoch, progress.step, progress.loss_sum, progress.loss_steps = (
                progress.epoch + 1, 0, 0.0, 0)
            carry = None
        else:
            carry = (h, c)
        (elapsed,) = world.agree(time.monotonic() - clock0)
        row = dict(
            epoch=round(epoch_mark, 4), step=progress.global_step,
            train_bpc=train_loss / math.log(2), valid_bpc=valid,
            **({"ema_valid_bpc": averaged} if ema is not None else {}), lr=lr,
            chars_per_s=round(epoch_chars / epoch_time if epoch_time else 0.0),
            elapsed_s=round(elapsed, 2), best=improved,
        )
        log.append(row)
        stop = _why_stop(progress, cfg, budget, elapsed)
        progress.elapsed, progress.stopped = elapsed, stop
        checkpoint.save_last(out / "last.pt", world, export_state(model), optimizer, ema,
                             progress, log, carry)
        last_save = time.monotonic()
        if lead:
            _write_logs(out, log)
            if stop or time.monotonic() - last_plot >= PLOT_EVERY:
                plot_curves(log, out / "curves.png")
                last_plot = time.monotonic()
            if on_epoch is not None:
                on_epoch(dict(row, stopped=stop))

    # -- the test split: scored once, with the best weights, never for selection ---------
    world.barrier()
    if not (out / "best.pt").is_file():
        raise AbcgenError("training produced no finite validation score (diverged?)")
    best_model = checkpoint.load_trained(out / "best.pt").model
    test = _bpc(best_model.to(device), test_tokens, device, cfg, world)
    norms = world.gather(torch.tensor([_sum_of_squares(model)], dtype=torch.float64))
    metrics = dict(
        valid_bpc=progress.best_valid,
        test_bpc=test,
        best_epoch=progress.best_epoch,
        epochs=round(progress.epoch + progress.step / steps_per_epoch, 4),
        steps=progress.global_step,
        stopped=stop,
        chars_per_s=round(run_chars / run_time) if run_time else None,
        wall_s=round(progress.elapsed, 1),
        device=_describe(device, world.size),
        params=params,
        train_chars=tunes.chars,
        rank_weight_norms=norms.flatten().tolist(),
    )
    checkpoint.save_last(out / "last.pt", world, export_state(model, metrics), optimizer, ema,
                         progress, log, carry)
    if lead:
        best_state = export_state(best_model, metrics)
        checkpoint.save(out / "best.pt", best_state)
        checkpoint.save_safetensors(out / "best.safetensors", best_state)
        write_atomic(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return TrainResult(metrics=metrics, model=model, out=out)


# -- helpers ---------------------------------------------------------------------------


def _open_run_folder(corpus: Corpus, out: Path, resume: bool, lead: bool) -> None:
    """Refuse to overwrite a run or to resume none; clear a killed run's half-written files."""
    if not corpus.train or not corpus.valid:
        raise AbcgenError("training needs tunes in both the train and the valid split")
    if resume and not (out / "last.pt").is_file():
        raise AbcgenError(f"nothing to resume: {out / 'last.pt'} does not exist")
    if not resume and (out / "last.pt").exists():
        raise AbcgenError(f"{out} already holds a run; add --resume or choose another --out")
    if lead:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        corpus.write_report(out / "report.json")


def _adamw(model: CharLSTM, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not on biases or the embedding)."""
    named = list(model.named_parameters())
    matrices = [p for n, p in named if p.dim() >= 2 and "embedding" not in n]
    others = [p for n, p in named if p.dim() < 2 or "embedding" in n]
    return torch.optim.AdamW(
        [{"params": matrices, "weight_decay": cfg.weight_decay}, {"params": others}],
        lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0,
    )


def _update_average(ema: AveragedModel, model: CharLSTM) -> None:
    """`ema.update_parameters(model)` (the model has no buffers) without its copy of the
    step count, a CPU tensor, to the GPU at every step: a blocking copy, which waits
    for all the GPU work queued before it."""
    averaged = [p.detach() for p in ema.module.parameters()]
    current = [p.detach() for p in model.parameters()]
    if ema.n_averaged == 0:  # the first step: the averaged weights start as the model's
        with torch.no_grad():
            for a, p in zip(averaged, current, strict=True):
                a.copy_(p)
    else:
        ema.multi_avg_fn(averaged, current, ema.n_averaged)
    ema.n_averaged += 1


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


def _why_stop(progress: Progress, cfg: TrainConfig, budget: float, elapsed: float) -> str:
    """Why the run is over ('' while it is not); a resumed run may be over already."""
    if progress.bad_epochs >= cfg.patience:
        return "early_stopping"
    if progress.epoch >= cfg.epochs:
        return "epochs"
    return "max_minutes" if budget > 0 and elapsed >= budget else ""


def _bpc(model: CharLSTM, tokens, device, cfg: TrainConfig, world: World) -> float:
    total, count = score(model, tokens, device, cfg.eval_chars)
    total, count = world.sum(total, count)
    return total / count if count else math.nan


def _restore(out: Path, cfg: TrainConfig, corpus: Corpus, world: World, model: CharLSTM,
             optimizer, ema) -> tuple[Progress, list[dict[str, Any]], Any]:
    """The run in out/last.pt, if it is this run: its weights, optimizer, averaged weights
    and this process's RNG loaded; its progress, log and carried state returned."""
    state = checkpoint.load_state(out / "last.pt")
    missing = [key for key in ("progress", "optimizer", "rng", "log") if key not in state]
    if missing:
        raise AbcgenError(f"{out}/last.pt lacks {', '.join(missing)}: it cannot be resumed")
    progress = state["progress"]
    if progress.get("world") != world.size:
        raise AbcgenError(f"{out} was trained by {progress.get('world')} process(es); resume it "
                          "with as many")
    if progress.get("corpus") != corpus.sha256:
        raise AbcgenError(f"the corpus differs from the one {out} was trained on")
    saved = state.get("train_config", {})
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RESUMABLE and saved.get(f.name) != getattr(cfg, f.name)]
    if changed:
        raise AbcgenError(f"settings differ from the run in {out}: {', '.join(changed)}")
    return checkpoint.restore_last(state, world, model, optimizer, ema)


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
