"""Run a sweep: measure every design the store does not hold yet, in a local process pool (default) or on a
Ray cluster, and write each finished design into the store as it arrives (only this process writes).

A design that fails (a tool error, an RTL simulation that differs from the executor) is reported and not
stored, so the next run tries it again; everything measured before an interruption stays in the store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from tqdm import tqdm

from bnncc.calibrate import space
from bnncc.calibrate.measure import Result, Settings, design_key, measure, tool_versions
from bnncc.calibrate.store import Store
from bnncc.errors import BnnccError, printable


@dataclass
class Summary:
    designs: int = 0  # in the sweep
    already: int = 0  # found in the store
    measured: int = 0
    rows: int = 0
    failed: list[str] = field(default_factory=list)  # a tool failed or a simulation differed: a bug to look at
    skipped: list[str] = field(default_factory=list)  # the design cannot be built for this part (does not fit)
    run_id: str = ""

    def to_json(self) -> dict:
        return {"designs": self.designs, "already_in_store": self.already, "measured": self.measured,
                "rows": self.rows, "failed": self.failed, "skipped": self.skipped, "run_id": self.run_id}


def measure_one(spec: dict, target: str, part: str, settings: Settings) -> Result | tuple[str, str]:
    """The design's measurements, or ("skipped" | "failed", a one-line reason) (runs in a worker)."""
    try:
        return measure(spec, target, part, settings)
    except BnnccError as e:  # the design, not the flow: e.g. it does not fit the part
        return "skipped", f"{space.label(spec)}: {printable(str(e))[:400]}"
    except Exception as e:  # noqa: BLE001 - a failed design is reported, the sweep goes on
        return "failed", f"{space.label(spec)}: {type(e).__name__}: {printable(str(e))[:400]}"


def map_tasks(fn: Callable, calls: list[tuple], *, jobs: int = 1, ray: str | None = None, num_cpus: int = 1,
              start: str = "fork") -> Iterator[tuple[int, object]]:
    """(index, fn(*calls[index])) as each finishes: in this process (jobs 1), a local process pool started by
    `start` ("spawn" where the driver has run torch, whose thread pools do not survive a fork), or as Ray
    tasks asking for `num_cpus` each on the cluster at `ray`. `fn` should return its failures, not raise
    them. Stopping the iteration stops the workers and the tools they run."""
    if ray:
        yield from _ray(fn, calls, ray, num_cpus)
    elif jobs == 1:
        for i, call in enumerate(calls):
            yield i, fn(*call)
    else:
        yield from _local(fn, calls, jobs, start)


def _local(fn: Callable, calls: list[tuple], jobs: int, start: str) -> Iterator[tuple[int, object]]:
    import multiprocessing

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(start), initializer=_worker_setup)
    futures = {pool.submit(fn, *call): i for i, call in enumerate(calls)}
    try:
        for done in as_completed(futures):
            yield futures[done], done.result()
    finally:  # interrupted or done: stop at once, whatever a worker is running (its result is not stored)
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)  # the worker and the tools it runs (its own group)


def _worker_setup() -> None:
    """A worker leads its own process group (so stopping it stops the tools it runs) and dies on SIGTERM
    (the forked copy of the driver's handler would make it carry on with the next task)."""
    os.setpgrp()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group: the driver decides


def _ray(fn: Callable, calls: list[tuple], address: str, num_cpus: int) -> Iterator[tuple[int, object]]:
    try:
        import ray
    except ImportError:
        raise BnnccError("--ray needs Ray (pip install -r requirements.txt)") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as e:
            raise BnnccError(f"--ray {address}: no Ray cluster there ({printable(str(e))[:200]})") from None
    remote = ray.remote(num_cpus=num_cpus)(fn)
    pending = {remote.remote(*call): i for i, call in enumerate(calls)}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            yield i, ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def run(specs: list[dict], target: str, part: str, store_path: str, settings: Settings, *, jobs: int = 1,
        ray: str | None = None, command: str = "bnncc calibrate", progress: bool = True) -> Summary:
    """Measure the designs of `specs` that `store_path` lacks; returns what happened."""
    tools = tool_versions(target, part)
    keyed = {}
    for spec in specs:
        keyed.setdefault(design_key(spec, target, part, settings), spec)
    summary = Summary(designs=len(keyed))
    with Store(store_path) as store:
        have = store.design_keys()
        todo = [(k, s) for k, s in keyed.items() if k not in have]
        summary.already = len(keyed) - len(todo)
        if not todo:
            return summary
        summary.run_id = store.start_run(command, target, part)
        status = "interrupted"
        previous = _stop_on_sigterm()
        try:
            results = map_tasks(measure_one, [(spec, target, part, settings) for _, spec in todo], jobs=jobs, ray=ray)
            with tqdm(total=len(todo), desc=f"calibrate {target} {part}", unit="design", file=sys.stderr,
                      disable=not progress) as bar:
                for i, result in results:
                    key, spec = todo[i]
                    if isinstance(result, tuple):
                        how, why = result
                        (summary.failed if how == "failed" else summary.skipped).append(why)
                        tqdm.write(f"bnncc: calibrate: {how}: {why}", file=sys.stderr)
                    else:
                        summary.rows += store.add_design(key, space.label(spec), target, part, spec,
                                                         settings.to_json(), tools, result, summary.run_id)
                        summary.measured += 1
                    bar.update(1)
            status = "done"
        finally:
            store.finish_run(summary.run_id, status)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    return summary


def _stop_on_sigterm():
    """SIGTERM (a killed job, a CI timeout) ends the run like Ctrl-C: the design being written is either
    committed or rolled back, and the run is marked interrupted. Returns the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, stop)
