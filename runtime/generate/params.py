"""One generation request, as onnxruntime-genai's `GeneratorParams`: everything a
caller may ask of the generator, checked whole when it is made.

Every caller (`abcgen generate`, `abcgen-live`, the MuseScore plugin, `abcgen
eval`) builds one of these and hands it to `Generator` or `generate`; none sets up
a mask, a form or a prime of its own, so an option means the same everywhere.

    params = GeneratorParams(meter="6/8", key="D", form="AABB", seed=5)
    tunes = generate(model, params)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abcgen.runtime.constrain.forms import AUTO, FormChoice, form_choice
from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate import MAX_SEED
from abcgen.runtime.generate.prime import prime_text
from abcgen.runtime.generate.sampling import SamplingOptions, random_seed

DEFAULT_MAX_CHARS = 2000
STEER_RESERVE = 200  # characters before max_chars where the mask starts heading for the end


@dataclass(frozen=True)
class GeneratorParams:
    """The tune's header and prime, how to sample, the form; `seed` None draws a fresh
    one, kept in `seed` so that the tunes can be made again."""

    meter: str | None = None  # M:, L:, K: of the prime; None lets the model write them
    key: str | None = None
    unit: str | None = None
    prefix: str | None = None  # ABC music to continue, or a fragment with its own header
    num: int = 1  # tunes, generated together as one batch
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    max_chars: int = DEFAULT_MAX_CHARS  # longest tune body, in generated characters
    form: str | FormChoice = AUTO  # `--form` text (with part_bars) or a FormChoice
    part_bars: int | None = None
    free: bool = False  # sample without the constraint mask
    steer_reserve: int = STEER_RESERVE
    # Derived when made:
    prime: str = field(init=False)  # canonical prime text (without BOS)
    shape: FormChoice = field(init=False)
    sampling: SamplingOptions = field(init=False)

    def __post_init__(self) -> None:
        if self.num < 1:
            raise AbcgenError(f"num must be >= 1, got {self.num}")
        if self.max_chars < 1:
            raise AbcgenError(f"max chars must be >= 1, got {self.max_chars}")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise AbcgenError(f"seed must be 0..{MAX_SEED}, got {self.seed}")
        _set = object.__setattr__  # derived fields of a frozen dataclass
        _set(self, "prime", prime_text(self.meter, self.key, self.unit, self.prefix))
        shape = (self.form if isinstance(self.form, FormChoice)
                 else form_choice(self.form, self.part_bars))
        if self.free and shape.spec is not None:
            raise AbcgenError(f"--form {shape.spec.text} needs the constraint mask: "
                              "leave out --free")
        _set(self, "shape", shape)
        _set(self, "sampling", SamplingOptions(self.temperature, self.top_k, self.top_p))
        if self.seed is None:
            _set(self, "seed", random_seed())
