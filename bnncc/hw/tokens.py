"""The token-level model of the dataflow: which cycle every block consumes and produces every stream word,
with FIFOs of given depths between them, and the smallest depths that keep the designed interval.

Each block kind describes one image as a sequence of steps (`Block.steps(fold)`), one step per cycle at
most, in order: a step may need an input word (it cannot run before the word is in the FIFO), pop one
(which frees its FIFO slot), and produce an output word (it cannot run while the FIFO after it is full: the
RTL block then stalls as a whole). The sliding window's two frame banks are the exception: its writer and
reader are two step sequences coupled by the banks (`Block.steps` returns both, `banks` says how many).

With every block's step times written as max-plus recurrences (t[s] = max(t[s-1] + 1, the cycle its input
word arrives, the cycle its output slot frees)), a whole design is solved by fixed-point iteration over its
streams: a pass computes each block's times from its producers' output times and from its consumers' pop
times of the pass before (a join waits for the later of its inputs, a fork for the fuller of its outputs);
times only grow, and the solution is reached when a pass changes
nothing (a design that deadlocks never settles and is reported as such). The sink always accepts and the
source always offers, so the solution is the design's own steady state: its interval is the spacing of
its last images' outputs. `size_fifos` then finds small depths whose interval equals the one with no FIFO
limit, which the RTL and HLS writers use and RTL simulation checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEVER = np.iinfo(np.int64).min // 4  # "no constraint" in a max
IMAGES = 4  # images simulated: the steady state shows from the third on
MAX_PASSES = 400
TRIAL_PASSES = 20  # a trial depth gets max(this, 4 x the passes of the unlimited run) to settle


@dataclass(frozen=True)
class Steps:
    """One image of one block's step sequence: per step, the input word it needs (-1: none), the input word
    it pops (-1: none; by default the one it needs) and the output word it produces (-1: none). A produced
    word reaches the FIFO `latency` cycles after its step."""

    need: np.ndarray
    produce: np.ndarray
    pop: np.ndarray | None = None
    latency: int = 1
    ports: np.ndarray | None = None  # a block reading its inputs in turn (a concat): the input port of each
    # word of its input stream, which is then the ports' words merged in reading order; None: every input
    # port carries the whole stream in lockstep (a join), or there is one

    @property
    def pops(self) -> np.ndarray:
        return self.need if self.pop is None else self.pop


@dataclass(frozen=True)
class Banked:
    """A block with `banks` frame buffers between a writer and a reader (the sliding window): the writer
    fills bank k % banks with image k's input words; the reader emits image k from it once it is full, and
    the writer can start image k + banks when the reader has finished image k."""

    writer: Steps
    reader: Steps
    banks: int = 2


def _repeat(idx: np.ndarray, images: int, per_image: int) -> np.ndarray:
    """An image's token indices repeated for `images` images (token j of image k -> k * per_image + j)."""
    out = np.tile(idx, images)
    offs = np.repeat(np.arange(images) * per_image, len(idx))
    return np.where(out >= 0, out + offs, -1)


def _run(need: np.ndarray, produce: np.ndarray, arrive: np.ndarray, space: np.ndarray, latency: int,
         start: int | None = None) -> np.ndarray:
    """Step times of one step sequence from `start` on: t[s] = max(t[s-1] + 1, arrive[need[s]],
    space[produce[s]] - latency)."""
    lower = np.full(len(need), NEVER, dtype=np.int64)
    has = need >= 0
    lower[has] = arrive[need[has]]
    out = produce >= 0
    lower[out] = np.maximum(lower[out], space[produce[out]] - latency)
    if start is not None and len(lower):
        lower[0] = max(lower[0], start)
    s = np.arange(len(need), dtype=np.int64)
    return s + np.maximum.accumulate(np.maximum(lower - s, 0))


@dataclass
class Timing:
    """The solved schedule: per stage, when it produced each output word and popped each input word (of its
    input stream; a concat's ports merged in reading order)."""

    produced: list[np.ndarray]
    popped: list[np.ndarray]
    interval: float
    settled: bool
    passes: int
    edges: list[tuple[int, int, int]]
    port_index: list[list[np.ndarray]]

    def occupancy(self, k: int) -> int:
        """The most words stream k (FIFO k) held at once."""
        src, dst, port = self.edges[k]
        prod, pop = self.produced[src], self.popped[dst][self.port_index[dst][port]]
        times = np.concatenate([prod, pop])
        delta = np.concatenate([np.ones(len(prod), np.int64), -np.ones(len(pop), np.int64)])
        order = np.lexsort((-delta, times))  # at one cycle, count the push before the pop
        return int(np.maximum.accumulate(np.cumsum(delta[order])).max(initial=0))


class Model:
    """Step programs (`Steps` or `Banked`, one per stage, in topological order) over `images` images, ready to
    be solved for any FIFO depths. `edges` are the streams (producer stage, consumer stage, consumer input
    port), FIFO k on edge k (default: a chain, stage i into i + 1); a stage without a producer reads the
    source (always offering), one without a consumer the sink (always accepting). A join's inputs and a
    fork's outputs move in lockstep; a concat reads its ports in turn (`Steps.ports`). words_in/out are
    words per image on each stage's input stream (all ports) and output stream."""

    def __init__(self, programs: list, words_in: list[int], words_out: list[int], images: int = IMAGES,
                 edges: list[tuple[int, int, int]] | None = None) -> None:
        self.programs, self.words_in, self.words_out, self.images = programs, words_in, words_out, images
        self.edges = [(i, i + 1, 0) for i in range(len(programs) - 1)] if edges is None else list(edges)
        self.into = [[k for k, e in enumerate(self.edges) if e[1] == i] for i in range(len(programs))]
        self.out_of = [[k for k, e in enumerate(self.edges) if e[0] == i] for i in range(len(programs))]
        self.port_index = [self._port_index(programs[i], words_in[i], 1 + max((self.edges[e][2] for e in into),
                                                                                default=0))
                           for i, into in enumerate(self.into)]
        self.tiled = [self._tile(p, w_in, w_out) for p, w_in, w_out in zip(programs, words_in, words_out, strict=True)]

    def _port_index(self, prog, words: int, ports: int) -> list[np.ndarray]:
        """Per input port, the positions of its words in the stage's input stream over all images (every
        position, for each port, where the ports move in lockstep)."""
        whole = np.arange(self.images * words)
        order = getattr(prog, "ports", None)
        if order is None:
            return [whole] * ports
        tiled = np.tile(order, self.images)
        return [whole[tiled == p] for p in range(ports)]

    def _tile(self, prog, w_in: int, w_out: int):
        if not isinstance(prog, Steps):
            return None
        k = self.images
        return _repeat(prog.need, k, w_in), _repeat(prog.pops, k, w_in), _repeat(prog.produce, k, w_out)

    def solve(self, depths: list[int], max_passes: int = MAX_PASSES, start: Timing | None = None) -> Timing:
        """The schedule at these FIFO depths. `start`: a schedule known to be no later than this one (the
        solution at depths at least as large), from which the iteration converges in fewer passes."""
        n, k = len(self.programs), self.images
        if start is None:
            produced = [np.full(k * w, NEVER, dtype=np.int64) for w in self.words_out]
            popped = [np.full(k * w, NEVER, dtype=np.int64) for w in self.words_in]
        else:
            produced, popped = [p.copy() for p in start.produced], [p.copy() for p in start.popped]
        dirty = set(range(n))
        passes = 0
        while dirty and passes < max_passes:
            passes += 1
            for i in sorted(dirty):
                dirty.discard(i)
                if self.into[i]:
                    arrive = np.full(k * self.words_in[i], NEVER, dtype=np.int64)
                    for e in self.into[i]:
                        src, _, port = self.edges[e]
                        at = self.port_index[i][port]
                        arrive[at] = np.maximum(arrive[at], produced[src] + 1)
                else:
                    arrive = np.zeros(k * self.words_in[i], dtype=np.int64)
                space = np.full(k * self.words_out[i], NEVER, dtype=np.int64)
                for e in self.out_of[i]:
                    d, (_, dst, port) = depths[e], self.edges[e]
                    space[d:] = np.maximum(space[d:], popped[dst][self.port_index[dst][port]][: len(space) - d] + 1)
                prod, pop = self._stage(i, arrive, space)
                if not np.array_equal(prod, produced[i]):
                    produced[i] = prod
                    dirty.update(self.edges[e][1] for e in self.out_of[i])
                if not np.array_equal(pop, popped[i]):
                    popped[i] = pop
                    dirty.update(self.edges[e][0] for e in self.into[i])
        settled = not dirty
        ends = produced[-1].reshape(k, -1)[:, -1]
        interval = float(ends[-1] - ends[-2]) if settled and k >= 2 else float("inf")
        return Timing(produced, popped, interval, settled, passes, self.edges, self.port_index)

    def _stage(self, i: int, arrive: np.ndarray, space: np.ndarray):
        prog, w_in, w_out, k = self.programs[i], self.words_in[i], self.words_out[i], self.images
        if self.tiled[i] is not None:
            need, pops, produce = self.tiled[i]
            t = _run(need, produce, arrive, space, prog.latency)
            return _times_of(produce, t + prog.latency, len(space)), _times_of(pops, t, len(arrive))
        # banked: image by image, the writer and reader coupled through the banks
        w, r = prog.writer, prog.reader
        prod = np.full(k * w_out, NEVER, dtype=np.int64)
        pop = np.full(k * w_in, NEVER, dtype=np.int64)
        reader_end = np.full(k, NEVER, dtype=np.int64)
        writer_next, reader_next = 0, 0
        none_in, none_out = np.full(len(w.need), -1), np.full(len(r.produce), -1)
        for img in range(k):
            bank_free = reader_end[img - prog.banks] + 1 if img >= prog.banks else NEVER
            need = np.where(w.need >= 0, w.need + img * w_in, -1)
            t = _run(need, none_in, arrive, space, 0, max(writer_next, bank_free))
            pop[need[need >= 0]] = t[need >= 0]
            writer_next = t[-1] + 1
            produce = np.where(r.produce >= 0, r.produce + img * w_out, -1)
            t = _run(none_out, produce, arrive, space, r.latency, max(reader_next, writer_next))
            prod[produce[produce >= 0]] = t[produce >= 0] + r.latency
            reader_end[img], reader_next = t[-1], t[-1] + 1
        return prod, pop


def _times_of(idx: np.ndarray, t: np.ndarray, size: int) -> np.ndarray:
    out = np.full(size, NEVER, dtype=np.int64)
    has = idx >= 0
    out[idx[has]] = t[has]
    return out


def size_fifos(model: Model, max_depths: list[int]) -> tuple[list[int], Timing]:
    """Small FIFO depths that keep the interval the design has with every FIFO at `max_depths` (a whole
    image: nothing ever stalls for space). Each FIFO, in turn, gets the smallest depth (at least 2) that
    keeps that interval with the others as chosen so far: 2 if that holds, else bisecting up to its largest
    occupancy with no limit. Tight FIFOs make the fixed point creep up a few cycles a pass, so a
    trial that has not settled in a few times the passes of the unlimited run counts as too small: a
    deeper FIFO never lowers the throughput, so this only ever errs towards depth."""
    free = model.solve(max_depths)
    depths = [max(2, min(max_depths[i], free.occupancy(i))) for i in range(len(max_depths))]
    budget = max(TRIAL_PASSES, 4 * free.passes)

    def holds(trial: list[int]) -> bool:
        t = model.solve(trial, budget, start=free)  # no trial is earlier than the unlimited schedule
        return t.settled and t.interval <= free.interval

    if not holds(depths):  # the model and the free run disagree: keep what is known to work
        return list(max_depths), free
    for i in range(len(depths)):
        hi, lo = depths[i], 2
        if hi > 2 and holds(depths[:i] + [2] + depths[i + 1:]):  # most streams: two words
            hi = 2
        lo = min(3, hi)
        while lo < hi:  # bisection: a trial that fails costs the whole budget, so as few trials as possible
            mid = (lo + hi) // 2
            if holds(depths[:i] + [mid] + depths[i + 1:]):
                hi = mid
            else:
                lo = mid + 1
        depths[i] = hi
    return depths, model.solve(depths)
