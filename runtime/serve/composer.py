"""Generation for many people at once: one loaded model, a pool of worker threads
sized to the cores, requests served oldest first.

Every request goes through the one entry point (`GeneratorParams` and
`Generator`), so an option means here what it means to `abcgen generate`.
Requests that wait together, ask for the same tune options and leave the seed
to chance are generated as one batch, as `abcgen generate --num K` does: a
step at batch 8 costs little more than one at batch 1, so eight people
composing at once get their tunes nearly as fast as one. Each tune keeps the
batch's seed, its size and its place in it, so it can be made again
(`--seed S --num K`, tune I). A request that names its seed is generated alone.

The worker also runs `keep` on each request's tunes (the server stores them in
the archive there), so the requests of one batch are answered together and,
busy, come back together to share the next one.

A worker checks between steps whether anyone still waits for the batch and
stops when nobody does (the client went away).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from abcgen.runtime.errors import AbcgenError
from abcgen.runtime.generate.generator import Generated, Generator
from abcgen.runtime.generate.onnx_model import Model
from abcgen.runtime.generate.params import GeneratorParams

MAX_BATCH = 32  # tunes generated together at most (a request's own num included)
MAX_WAITING = 512  # tunes queued at most; beyond it a compose is refused as busy
GATHER = 0.05  # seconds a request may wait for others to share its batch, when busy


class Busy(AbcgenError):
    """Too many tunes are waiting already."""


@dataclass(frozen=True)
class Made:
    """One request's tunes and how to make them again: the batch's seed and size and
    the request's first place in it (from 1)."""

    tunes: list[Generated]
    seed: int
    batch: int
    first: int


@dataclass(eq=False)
class _Job:
    params: GeneratorParams
    shareable: bool  # the seed was left to chance: may join a batch
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    arrived: float = field(default_factory=lambda: _now())
    cancelled: threading.Event = field(default_factory=threading.Event)
    key: tuple = ()  # everything but the seed and the count: equal keys may share a batch

    def __post_init__(self) -> None:
        self.key = tuple(getattr(self.params, f.name) for f in dataclasses.fields(self.params)
                         if f.init and f.name not in ("seed", "num"))

    def settle(self, result: Any) -> None:
        def set_once() -> None:
            if self.future.done():
                return
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)

        self.loop.call_soon_threadsafe(set_once)


class Composer:
    """`await compose(params)` from the event loop; the work runs in `workers` threads."""

    def __init__(self, model: Model, *, workers: int | None = None,
                 max_batch: int = MAX_BATCH, max_waiting: int = MAX_WAITING,
                 gather: float = GATHER, keep: Callable[[GeneratorParams, Made], Any] | None = None,
                 ) -> None:
        self.model, self.max_batch, self.max_waiting = model, max_batch, max_waiting
        self.keep = keep
        self._queue: collections.deque[_Job] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self.stopped = 0  # batches stopped because everyone who asked went away
        self.batches: collections.Counter[int] = collections.Counter()  # tunes -> batches
        self.gather = gather
        self._running = 0  # batches being generated
        self._shared = False  # the last batch taken held several requests
        self._ended = 0.0  # when the last batch ended
        self._last: list[_Job] = []  # its requests
        self._keys: collections.Counter[tuple] = collections.Counter()  # running, by options
        self._threads = [threading.Thread(target=self._work, name=f"abcgen-composer-{i}",
                                          daemon=True)
                         for i in range(workers or os.cpu_count() or 1)]
        for thread in self._threads:
            thread.start()

    async def compose(self, params: GeneratorParams, *, seed_given: bool,
                      gone: Callable[[], object] | None = None, poll: float = 0.1) -> Any:
        """The tunes `params` asks for (as `Made`, or what `keep` made of them in the
        worker: the archive's rows). `gone` (an async callable) is asked every `poll`
        seconds whether the client left; if so the work stops and CancelledError is raised."""
        loop = asyncio.get_running_loop()
        job = _Job(params, not seed_given, loop.create_future(), loop)
        with self._ready:
            waiting = sum(j.params.num for j in self._queue)
            if waiting + params.num > self.max_waiting:
                raise Busy(f"{waiting} tunes are waiting to be made; try again in a moment")
            self._queue.append(job)
            self._ready.notify()
        try:
            while True:
                done, _ = await asyncio.wait({job.future}, timeout=poll)
                if done:
                    return job.future.result()
                if gone is not None and await gone():
                    raise asyncio.CancelledError("the client went away")
        except BaseException:
            job.cancelled.set()
            with self._ready:
                if job in self._queue:
                    self._queue.remove(job)
            raise

    def waiting(self) -> int:
        with self._ready:
            return len(self._queue)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- worker threads ----------------------------------------------------

    def _take(self) -> list[_Job] | None:
        """The next batch: the oldest request that may start now and the waiting ones
        that may share its batch."""
        with self._ready:
            while not self._closed:
                first = self._startable()
                if first is None:
                    self._ready.wait()
                    continue
                # Busy (a batch runs, or the last one was shared): let the request wait
                # up to `gather` for others to join it, counted from its arrival or the
                # end of the last batch (whose people come back now). Idle: go now.
                crowded = self._running or self._shared
                since = max(first.arrived, self._ended)
                wait = since + (self.gather if crowded else 0) - _now()
                if wait <= 0 or self._all_back(first):
                    break
                self._ready.wait(wait)
            if self._closed:
                return None
            self._queue.remove(first)
            jobs, size = [first], first.params.num
            if first.shareable:
                for job in list(self._queue):
                    if (job.shareable and size + job.params.num <= self.max_batch
                            and job.key == first.key):
                        self._queue.remove(job)
                        jobs.append(job)
                        size += job.params.num
                self._keys[first.key] += 1
            self._running += 1
            self._shared = len(jobs) > 1
            self.batches[size] += 1
            return jobs

    def _all_back(self, first: _Job) -> bool:
        """Whether the people of the batch that ended last, if it had `first`'s options,
        have all asked again (then waiting longer gathers nobody)."""
        if not first.shareable or not self._last or self._last[0].key != first.key:
            return False
        back = sum(j.params.num for j in self._queue
                   if j.shareable and j.key == first.key and j.arrived >= self._ended)
        return back >= sum(j.params.num for j in self._last)

    def _startable(self) -> _Job | None:
        """The oldest request to start now. One that could share a running batch's
        options waits for it to end (its people come back then, and all share the
        next batch) unless a whole batch of them waits already."""
        waiting = collections.Counter()
        for job in self._queue:
            if job.shareable:
                waiting[job.key] += job.params.num
        for job in self._queue:
            if (not job.shareable or not self._keys[job.key]
                    or waiting[job.key] >= self.max_batch):
                return job
        return None

    def _work(self) -> None:
        while (jobs := self._take()) is not None:
            try:
                self._run(jobs)
            except BaseException as err:  # a worker must outlive any one request
                for job in jobs:
                    job.settle(err if isinstance(err, Exception) else RuntimeError(str(err)))
            finally:
                with self._ready:
                    self._running -= 1
                    self._ended, self._last = _now(), jobs
                    if jobs[0].shareable:
                        self._keys[jobs[0].key] -= 1
                    self._ready.notify_all()  # requests that waited for it may start

    def _run(self, jobs: list[_Job]) -> None:
        params = jobs[0].params
        if len(jobs) > 1:
            params = dataclasses.replace(params, num=sum(j.params.num for j in jobs))
        gen = Generator(self.model, params)
        gen.append(params.prime)
        while not gen.is_done():
            if all(job.cancelled.is_set() for job in jobs):
                self.stopped += 1
                return
            gen.generate_next()
        tunes, first, answers = gen.results(), 0, []
        for job in jobs:
            n = job.params.num
            made = Made(tunes[first:first + n], params.seed, params.num, first + 1)
            first += n
            try:  # a request whose client went away is not kept
                answers.append(made if not self.keep or job.cancelled.is_set()
                               else self.keep(job.params, made))
            except Exception as err:
                answers.append(err)
        for job, answer in zip(jobs, answers, strict=True):  # all at once: they come back together
            job.settle(answer)


_now = time.monotonic
