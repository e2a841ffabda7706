"""The explorer page's own process pool: started when the page opens, warm before the first move, and shared
by the moves so that a newer move can cancel what an older one queued.

A page runs in a Jupyter (or Voilà) kernel, where forking a process that already runs threads, a event loop and
widgets is not safe: the pool uses a `forkserver` context (its server imports `sim` once, and each worker is
forked from that clean server) or `spawn` where there is no forkserver. Workers are set up by
`replicate.worker_start` and watch the kernel itself (`watch_owner`), so they end when the kernel does, even when
it is killed: a forkserver's worker cannot rely on its parent dying, since the forkserver lives as long as its
workers do. Each worker runs one tiny simulation as soon as it starts (`warm`), so the first move does not pay
for the imports.

`Pool.ticket()` is one move's view of the pool: a `concurrent.futures.Executor` that `sim.compare` submits its
chunks to; `Ticket.cancel()` cancels everything it queued (chunks already running finish and are discarded by
the caller). Numbers do not depend on the pool: replication i always runs on seed i.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import threading
import time
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor, wait

from ..experiments.replicate import stop_pool, worker_start
from ..experiments.simulate import simulate
from ..scenario import Scenario


WORKER_MODULES = ["sim.experiments.replicate", "sim.explorer.pool"]


def warm() -> int:
    """Worker: run one short simulation, so the first real run meets warm caches."""
    simulate(Scenario.preset("baseline").replace(days=30), seed=0)
    return os.getpid()


def start_worker(owner: int) -> None:
    """Worker set-up: `replicate.worker_start`, and end this worker when process `owner` (the kernel) ends.

    Its parent is the forkserver, which stays alive as long as any of its workers does (they hold its "alive"
    pipe), so a worker that only watched its parent would outlive a killed kernel together with the forkserver.
    """
    worker_start()
    threading.Thread(target=watch_owner, args=(owner,), name="owner-watch", daemon=True).start()


def watch_owner(owner: int, every: float = 0.5) -> None:
    """Block until process `owner` has ended (exited, or a zombie waiting for its reaper), then end this process."""
    opened = getattr(os, "pidfd_open", None)
    if opened is not None:
        try:
            fd = opened(owner)               # readable once the process has ended (Linux >= 5.3)
        except OSError:
            os._exit(1)                      # already gone
        select.select([fd], [], [])
        os._exit(1)
    while _running(owner):
        time.sleep(every)
    os._exit(1)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _context() -> mp.context.BaseContext:
    """`forkserver` where the platform has it, else `spawn`: never `fork` in a kernel. The server preloads only what a
    worker runs (`WORKER_MODULES`: the engine, the policies, `replicate`; not the loaders, the analyses, pandera or
    scipy.stats, which `import sim` leaves for first use), so the pool is warm sooner after the page opens."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(WORKER_MODULES)
        return ctx
    return mp.get_context("spawn")


class Pool(Executor):
    """A process pool for one page, on `workers` processes (all cores by default), warming as it starts.

    Until every worker has run its warm-up (`ready`), what is submitted runs here, in the submitting thread (the
    page's background thread): starting a forkserver means importing `sim` anew, seconds on a quiet machine and
    far more on a loaded one, and meanwhile the kernel's own core answers the first move. From then on work goes
    to the workers. A pool whose warm-up failed keeps answering here. The numbers are the same either way.
    """

    def __init__(self, workers: int | None = None):
        self.workers = self._max_workers = max(1, workers or os.cpu_count() or 1)
        self.context = _context()
        self.executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=self.context,
                                            initializer=start_worker, initargs=(os.getpid(),))
        self.warming: list[Future] = []
        self.ready = threading.Event()            # set once every worker ran its warm-up
        # workers start (the forkserver imports sim first) in a thread: the page opens without waiting for them
        self._starting = threading.Thread(target=self._start, name="whatif-pool-start", daemon=True)
        self._starting.start()

    def _start(self) -> None:
        self.warming = [self.executor.submit(warm) for _ in range(self.workers)]   # one per worker: all start now
        done, _ = wait(self.warming)
        if all(f.exception() is None for f in done):
            self.ready.set()

    def wait_warm(self, timeout: float | None = None) -> set[int]:
        """Block until the warm-up runs are done; the workers' process ids."""
        self._starting.join(timeout)
        done, _ = wait(self.warming, timeout=timeout)
        return {f.result() for f in done}

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """To the workers once they are warm; before that, run here and now (a finished future)."""
        if self.ready.is_set():
            return self.executor.submit(fn, *args, **kwargs)
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:          # noqa: BLE001 - handed to the caller through the future, as a pool does
            fut.set_exception(err)
        return fut

    def ticket(self) -> Ticket:
        """A fresh executor view for one move: what it submits can be cancelled together."""
        return Ticket(self, self.workers)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.close()

    def close(self) -> None:
        """End the workers now (the page is closed); queued work is cancelled."""
        self._starting.join()
        stop_pool(self.executor)


class Ticket(Executor):
    """One move's share of the page's pool (or of any executor). After `cancel()`, its queued chunks never start and a new submit
    raises `CancelledError`, so a `sim.compare` running on it stops at its next chunk."""

    def __init__(self, executor: Executor, workers: int | None = None):
        self.executor = executor
        self._max_workers = workers or getattr(executor, "_max_workers", None) or os.cpu_count() or 1   # chunk sizes
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self.cancelled = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            if self.cancelled:
                raise CancelledError("a newer move replaced this one")
        # not under the lock: a pool still starting its workers blocks `submit` for as long as the forkserver takes
        # to import `sim`, and `cancel` (called by the page's thread on a new pick or move) must not wait for that
        try:
            fut = self.executor.submit(fn, *args, **kwargs)
        except RuntimeError:                     # the pool was shut down meanwhile (the page closed)
            if self.cancelled:
                raise CancelledError("the page was closed") from None
            raise
        with self._lock:
            self._futures.append(fut)
            if self.cancelled:
                fut.cancel()
                raise CancelledError("a newer move replaced this one")
        return fut

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            for fut in self._futures:
                fut.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The pool is the page's, not this move's: shutting a ticket down only cancels its queued work."""
        if cancel_futures:
            self.cancel()
