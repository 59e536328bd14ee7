"""What `abcgen-live` is asked to do, checked whole before the first note:
a bad value, or a file it could not write, is named at start-up rather than
when the music reaches it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from abcgen.runtime.atomic import check_writable
from abcgen.runtime.constrain.forms import FormChoice, form_choice
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.sampling import SamplingOptions
from abcgen.runtime.live import ports
from abcgen.runtime.live.performance import Style

CONTROL_TEMPERATURES = (0.1, 2.0)  # what the temperature controller's 0..127 spans
# Controllers 20-23 are undefined in the MIDI spec, so no synth reacts to them.
DEFAULT_CONTROLS = {"temperature": 20, "tempo": 21, "next": 22, "panic": 23}


@dataclass
class LiveConfig:
    style: Style = field(default_factory=Style)
    model: Path | None = None
    abc: Path | None = None  # play the tunes of this file (in turn, forever) instead
    temperature: float = 1.0
    free: bool = False  # sample without the constraint mask
    max_chars: int = 2000  # longest tune body, in characters
    seed: int | None = None
    meter: str | None = None  # None: a random choice per set
    key: str | None = None  # None: a random choice per tune
    unit: str | None = None
    form: str = "auto"  # AABB, AB, ... auto (drawn once a set) or free
    part_bars: int | None = None
    set_size: int = 3  # tunes in a row with one meter and form: a dance set
    gap: float = 2.0  # seconds of silence between tunes
    tunes: int | None = None  # stop after this many; None: play on until stopped
    port: str | None = None
    virtual: str | None = None
    api: str = "auto"
    record: Path | None = None
    abc_log: Path | None = None
    clock: str = "off"  # 'master', 'follow' or 'off'
    clock_in: str | None = None
    control_in: str | None = None
    controls: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CONTROLS))
    time_scale: float = 1.0
    realtime: bool = True  # try realtime priority for the sender

    @cached_property
    def form_choice(self) -> FormChoice:
        """--form and --part-bars, read once (AbcgenError naming what is wrong)."""
        return form_choice(self.form, self.part_bars)

    def check(self) -> None:
        SamplingOptions(temperature=self.temperature)  # AbcgenError naming what is wrong
        if self.api not in ("auto", *ports.APIS):
            raise AbcgenError(f"--api must be auto, {', '.join(ports.APIS)}; got {self.api!r}")
        if self.clock not in ("master", "follow", "off"):
            raise AbcgenError(f"--clock must be master, follow or off; got {self.clock!r}")
        if self.clock == "follow" and not self.clock_in:
            raise AbcgenError("--clock follow needs --clock-in PORT")
        if self.port and self.virtual:
            raise AbcgenError("give --port or --virtual, not both")
        if not 0 < self.time_scale <= 10:
            raise AbcgenError(f"time scale must be in (0, 10], got {self.time_scale}")
        if self.gap < 0:
            raise AbcgenError(f"gap must be >= 0 seconds, got {self.gap}")
        if self.max_chars < 1:
            raise AbcgenError(f"max chars must be >= 1, got {self.max_chars}")
        if self.tunes is not None and self.tunes < 1:
            raise AbcgenError(f"tunes must be >= 1, got {self.tunes}")
        if self.set_size < 1:
            raise AbcgenError(f"set size must be >= 1, got {self.set_size}")
        if self.form_choice.spec is not None and (self.meter or "").strip() == "none":
            raise AbcgenError("a form counts bars, and --meter none has none")
        if not 0.25 <= self.style.swing < 0.75:
            raise AbcgenError(f"swing must be 0.25..0.75 (0.5 is straight), got {self.style.swing}")
        for name, number in self.controls.items():
            if name not in DEFAULT_CONTROLS or not 0 <= number <= 127:
                raise AbcgenError(f"control {name}={number}: names are "
                                  f"{', '.join(DEFAULT_CONTROLS)}, numbers 0..127")
        if self.abc is not None and not self.abc.is_file():
            raise AbcgenError(f"no such ABC file: {self.abc}")
        from abcgen.runtime.abc.header import header_text

        header_text(self.meter or "4/4", self.key, self.unit)  # a bad value, named now
        # Every file the session writes, before the first note: not when a tune ends.
        check_writable(*(p for p in (self.abc_log, self.record) if p is not None),
                       inputs=[self.abc, self.model])
