"""abcgen-live: tune after tune, played to a MIDI port in time.

Two processes, so that the model never holds up a note (a busy Python thread
beside the sender costs milliseconds of jitter through the GIL): the composer,
a child process, writes tunes, renders each one as it is written
(`Performance`) and sends timed messages down a pipe, staying a couple of
seconds ahead of the music; this process only schedules and sends them
(`Scheduler`), reads the control and clock inputs, and handles signals. The
two share the position played, the tempo, the temperature, and an epoch that
"next tune" advances so that both drop what was queued.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing as mp
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abcgen.runtime.errors import AbcgenError, BeyondLimits
from abcgen.runtime.live import ports
from abcgen.runtime.live.config import CONTROL_TEMPERATURES, LiveConfig
from abcgen.runtime.live.performance import WHOLE, Item, Performance
from abcgen.runtime.live.playback import (
    CLOCK,
    CONTINUE,
    INPUT_POLL,
    LEAD,
    NEXT_LEAD,
    START,
    STOP,
    ClockFollower,
    InputTimes,
    Player,
    Scheduler,
    Timeline,
    keep_ahead,
    realtime_priority,
    whole_note_seconds,
)
from abcgen.runtime.live.recording import Recorder

if TYPE_CHECKING:
    from abcgen.runtime.generate.params import GeneratorParams

CLIENT = "abcgen-live"
TEMPO_RANGE = (40.0, 240.0)  # quarter notes per minute, for the tempo controller
RANDOM_METERS = ("4/4", "6/8", "3/4", "2/4", "9/8", "2/2")
RANDOM_KEYS = ("D", "G", "A", "Em", "Ador", "Bm", "C", "F", "Dmix", "Edor", "Am", "Gmix")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MAX_SKIPPED = 10  # tunes in a row skipped (beyond abc.limits) before the session gives up


class Shared:
    """What the two processes share; one writer each (the composer writes nothing)."""

    def __init__(self, ctx: Any, config: LiveConfig) -> None:
        bpm = config.style.bpm or 120.0
        self.position = ctx.RawValue("d", 0.0)  # whole notes played so far
        self.spw = ctx.RawValue("d", whole_note_seconds(bpm) * config.time_scale)
        self.temperature = ctx.RawValue("d", config.temperature)
        self.epoch = ctx.RawValue("i", 0)
        self.stopping = ctx.RawValue("b", 0)  # the sender is on its way out


# ------------------------------------------------------------------ composer


def _tunes(config: LiveConfig, shared: Shared) -> Iterator[tuple[str, Iterator[str]]]:
    """(prime, the rest of the text as it is written) for each tune, forever."""
    if config.abc is not None:
        from abcgen.runtime.formats.outputs import read_tunes

        texts = [text for _, text in read_tunes(config.abc)]
        if not texts:
            raise AbcgenError(f"{config.abc} holds no tune (no K: line)")
        while True:
            for text in texts:  # line by line, so that the first bars go out first
                yield "", iter(io.StringIO(text, newline="\n"))  # `\n` ends lines, no other
    from abcgen.exported import DEFAULT_MODEL
    from abcgen.runtime.generate.generator import Generator
    from abcgen.runtime.generate.onnx_model import Model
    from abcgen.runtime.generate.sampling import SamplingOptions

    path = config.model or DEFAULT_MODEL
    if config.model is None and not path.is_file():
        raise AbcgenError(f"the shipped model is missing ({path}); pass --model FILE.onnx, "
                          "or --abc FILE to play written tunes")
    model = Model(path)
    for params in tune_params(config, lambda: shared.temperature.value):
        generator = Generator(model, params)
        generator.append(params.prime)

        def written(generator: Generator = generator) -> Iterator[str]:
            while not generator.is_done():
                if shared.temperature.value != generator.sampling.temperature:
                    generator.sampling = SamplingOptions(temperature=shared.temperature.value)
                generator.generate_next()
                yield generator.new_chars()[0]

        yield params.prime, written()


def tune_params(config: LiveConfig, temperature: Callable[[], float]
                ) -> Iterator[GeneratorParams]:  # fmt: skip
    """What each tune of the stream is generated from, forever: sets of
    `config.set_size` tunes share a meter and a form (`auto` drawn once a set), each
    tune has its key and seed; the temperature is read as each tune starts."""
    from abcgen.runtime.abc.header import canonical_meter
    from abcgen.runtime.generate.params import GeneratorParams

    rng = random.Random(config.seed)
    for index in itertools.count():
        if index % config.set_size == 0:
            meter = canonical_meter(config.meter or rng.choice(RANDOM_METERS))
            form = config.form_choice.for_meter(meter, rng.random())
        key = config.key or rng.choice(RANDOM_KEYS)
        yield GeneratorParams(meter=meter, key=key, unit=config.unit, temperature=temperature(),
                              seed=rng.randrange(2**32), max_chars=config.max_chars, form=form,
                              free=config.free, copy=config.copy)


def _keep_ahead(horizon: float, shared: Shared, epoch: int) -> bool:
    """Wait while the music up to `horizon` is too far ahead of play (playback's
    LOOKAHEAD); False when told to drop it, or when the sender has gone."""
    parent = os.getppid()
    return keep_ahead(lambda: (horizon - shared.position.value) * shared.spw.value,
                      lambda: bool(shared.stopping.value) or shared.epoch.value != epoch
                      or os.getppid() != parent)


def _log_tune(path: Path | None, index: int, text: str, complete: bool) -> str | None:
    """Append the tune to the ABC log; if that fails, a warning that carries the tune."""
    if path is None:
        return None
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    body = text.replace("\x03", "").rstrip("\n")
    if not body.lstrip().startswith("X:"):
        body = f"X:{index + 1}\nT:abcgen-live {stamp}\n{body}"
    note = "" if complete else "% interrupted here\n"
    entry = f"{body}\n{note}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, entry.encode())  # one append: earlier tunes are never touched
        finally:
            os.close(fd)
    except OSError as err:
        return (f"warning: cannot append tune {index + 1} to {path} "
                f"({err.strerror or err}); here it is instead:\n{entry}")
    return None


def _shift(items: list[Item], by: float) -> list[Item]:
    return [(pos + by, data) for pos, data in items]


def compose(config: LiveConfig, conn: Connection, shared: Shared) -> None:
    """The composer process: tunes -> timed messages down `conn`, a little ahead.
    Whatever stops it is sent down `conn` too, so that the sender can name it."""
    for sig in (signal.SIGINT, signal.SIGHUP):  # the terminal's, sent to the whole group:
        signal.signal(sig, signal.SIG_IGN)     # the sender's to handle
    try:
        _compose(config, conn, shared)
    except (BrokenPipeError, EOFError, ConnectionError):
        pass  # the sender has gone: nothing left to play to
    except AbcgenError as err:
        conn.send(("error", str(err)))
    except Exception as err:  # a bug or a fault: the sender would only see the pipe close
        conn.send(("error", f"the composer failed: {type(err).__name__}: {err}"))


def _compose(config: LiveConfig, conn: Connection, shared: Shared) -> None:
    tunes = _tunes(config, shared)
    first = next(tunes)
    conn.send(("ready",))
    position, index, epoch, skipped = 0.0, 0, shared.epoch.value, 0
    while not shared.stopping.value and (config.tunes is None or index < config.tunes):
        if shared.epoch.value != epoch:  # "next tune": start right away
            epoch = shared.epoch.value
            position = shared.position.value + NEXT_LEAD / shared.spw.value
        prime, rest = first if index == 0 else next(tunes)
        performance = Performance(config.style, tune_seed=index)
        marker: list[Item] = [(position, f"tune {index + 1}")]  # goes with the first notes
        text, bpm, complete = [], config.style.bpm or 120.0, True
        try:
            for chunk in itertools.chain([prime], rest):
                text.append(chunk)
                items = performance.feed(chunk)
                if items:
                    bpm = next((d for _, d in items if isinstance(d, float)), bpm)
                    conn.send(("items", epoch, [*marker, *_shift(items, position)]))
                    marker = []
                    if not _keep_ahead(position + performance.done / WHOLE, shared, epoch):
                        complete = False
                        break
            if complete:
                items = performance.close()
                conn.send(("items", epoch, [*marker, *_shift(items, position)]))
                position += performance.length + config.gap / whole_note_seconds(bpm)
            skipped = 0
        except BeyondLimits as err:  # one tune too much for playback: the next one plays
            complete, skipped = False, skipped + 1
            what = "stopped" if performance.started else "skipped"
            conn.send(("log", f"warning: tune {index + 1} {what}: {err}"))
            if skipped == MAX_SKIPPED:
                raise AbcgenError(f"{MAX_SKIPPED} tunes in a row were beyond what abcgen "
                                  f"plays; the last: {err}") from None
            position += max(performance.done, 0) / WHOLE + config.gap / whole_note_seconds(bpm)
        warning = _log_tune(config.abc_log, index, "".join(text), complete)
        if warning:
            conn.send(("log", warning))
        index += 1
    conn.send(("end", epoch, position))


# ------------------------------------------------------------------ sender


class Signals:
    """SIGINT, SIGTERM and SIGHUP (its terminal closed) only set a flag (and wake the
    sender through a pipe); the way out, with every note released, is the sender's
    own. A signal ignored on entry (nohup) stays ignored."""

    def __init__(self) -> None:
        self.caught = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self._previous = {sig: signal.signal(sig, self._catch) for sig in STOP_SIGNALS
                          if signal.getsignal(sig) is not signal.SIG_IGN}
        self._previous_fd = signal.set_wakeup_fd(self.wake_w)

    def _catch(self, *_: object) -> None:
        self.caught = True

    def restore(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        os.close(self.wake_r)
        os.close(self.wake_w)


class Session:
    """The sending side: one scheduler, fed by the composer and the inputs."""

    def __init__(self, config: LiveConfig, conn: Connection, shared: Shared,
                 log: Callable[[str], None], signals: Signals) -> None:
        self.config, self.conn, self.shared, self.log = config, conn, shared, log
        self.signals = signals
        self.ended = False
        self.died = False  # the composer went without a word (killed, or crashed)
        self.ready_at: float | None = None  # when the composer had its model loaded
        output = ports.open_output(config.api, config.port, config.virtual, CLIENT)
        self.api = output.api
        log(f"playing to {output.name} ({output.api})")
        names = dict.fromkeys(n for n in (config.clock_in, config.control_in) if n)
        self.inputs = [ports.open_input(config.api, name, f"{CLIENT}-in") for name in names]
        self.input_times = InputTimes(len(self.inputs))
        recorder = Recorder(config.record, on_error=log) if config.record else None
        self.player = Player(self._connect, recorder=recorder, on_change=log)
        self.player.port = output
        self.timeline = Timeline(config.style.bpm or 120.0, config.time_scale)
        self.follower = ClockFollower(self.timeline, self.player.silence) \
            if config.clock == "follow" else None
        self.scheduler = Scheduler(
            self.player, self.timeline, wait=self.wait,
            clock_master=config.clock == "master",
            follow_tempo=config.style.bpm is None and self.follower is None,
            on_marker=self.on_marker)

    def _connect(self) -> ports.Output:
        return ports.Output(self.api, CLIENT, self.config.port, self.config.virtual)

    def wait(self, timeout: float) -> None:
        if self.inputs:
            timeout = min(timeout, INPUT_POLL)
        wake = self.signals.wake_r
        ready = wait_for([wake] if self.ended else [self.conn, wake], max(timeout, 0.0))
        if wake in ready:
            os.read(wake, 512)
        while not self.ended and self.conn.poll():
            try:
                self.receive(self.conn.recv())
            except EOFError:  # without "end" nor "error": it died; play out what is queued
                self.ended = self.died = True
        now = self.scheduler.now()
        for i, port in enumerate(self.inputs):
            for data, delta in port.pending():
                self.on_input(data, self.input_times.arrival(i, delta, now))
        self.shared.position.value = self.timeline.position(now)
        self.shared.spw.value = self.timeline.spw

    def on_marker(self, text: str) -> None:
        if self.ready_at is not None:  # the first tune: say how soon it started
            after = self.scheduler.now() - self.ready_at
            text += f" (first note {after * 1e3:.0f} ms after start)"
            self.ready_at = None
        self.log(f"playing {text}")

    def receive(self, message: tuple) -> None:
        kind = message[0]
        if kind == "error":
            raise AbcgenError(message[1])
        if kind == "log":
            self.log(message[1])
        if kind == "ready":
            self.ready_at = self.scheduler.now()
        if kind == "items" and message[1] == self.scheduler.epoch:
            self.scheduler.add(message[2], message[1])
            if not self.timeline.running and self.follower is None:
                self.timeline.start(self.scheduler.now() + LEAD)
        elif kind == "end":
            self.ended = True

    def on_input(self, data: bytes, t: float) -> None:
        status = data[0]
        if status in (CLOCK, START, CONTINUE, STOP):
            if self.follower is not None:
                self.follower.receive(status, t)
            return
        if status & 0xF0 != 0xB0 or len(data) < 3:
            return
        number, value = data[1], data[2]
        controls = self.config.controls
        if number == controls.get("temperature"):
            lo, hi = CONTROL_TEMPERATURES
            self.shared.temperature.value = lo + (hi - lo) * value / 127
            self.log(f"temperature {self.shared.temperature.value:.2f}")
        elif number == controls.get("tempo") and self.follower is None:
            lo, hi = TEMPO_RANGE
            self.timeline.set_tempo(lo + (hi - lo) * value / 127, t)
            self.scheduler.follow_tempo = False
            self.log(f"tempo {self.timeline.bpm:.0f}")
        elif number == controls.get("next") and value >= 64:
            self.shared.epoch.value = self.scheduler.epoch + 1
            self.scheduler.drop(self.scheduler.epoch + 1)
            self.player.silence(t)
            self.log("next tune")
        elif number == controls.get("panic") and value >= 64:
            self.player.silence(t)
            self.log("panic")

    def keep_going(self) -> bool:
        return not self.signals.caught and not (self.ended and not self.scheduler.queue)

    def close(self) -> None:
        self.scheduler.finish()
        for port in self.inputs:
            port.close()
        self.log(f"stopped: {self.player.sent} messages sent, the latest "
                 f"{self.scheduler.late_max * 1e3:.1f} ms after its time")


def run(config: LiveConfig, log: Callable[[str], None] = lambda _: None) -> None:
    """Play until SIGINT/SIGTERM/SIGHUP or the last of `config.tunes`, then leave no note
    sounding."""
    config.check()
    if config.seed is not None:
        log(f"seed {config.seed}")  # a session worth keeping can be played again
    signals = Signals()  # from here on a signal means: stop cleanly, exit 0
    ctx = mp.get_context("spawn")
    shared = Shared(ctx, config)
    conn, child_end = ctx.Pipe(duplex=False)
    composer = ctx.Process(target=compose, args=(config, child_end, shared),
                           name="abcgen-composer", daemon=True)
    composer.start()  # loads the model while the ports open
    child_end.close()
    session = None
    try:
        if config.realtime and not realtime_priority():
            log("realtime priority not permitted; timing may suffer on a busy machine")
        try:
            session = Session(config, conn, shared, log, signals)
        except AbcgenError:
            if not signals.caught:
                raise
            log("stopped while the ports opened")  # the signal cut the opening short
        if session is not None:
            session.scheduler.run(session.keep_going)
    finally:
        try:
            if session is not None:
                session.close()
        finally:
            shared.stopping.value = 1
            composer.join(5)
            if composer.is_alive():
                composer.terminate()
                composer.join(5)
            conn.close()
            signals.restore()
    if session is not None and session.died and not signals.caught:
        raise AbcgenError(f"the composer stopped unexpectedly (exit code {composer.exitcode}); "
                          "the music queued before was played")
