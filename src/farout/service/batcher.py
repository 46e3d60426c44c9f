"""One thread that scores and logs whatever requests have queued up since
it last looked (a group commit): concurrent requests share one scoring call
per model and one transaction, and each is answered only after that
transaction commits. It is also the service's one writer of predictions,
as Datasette keeps one writer for SQLite.
"""

import asyncio
import queue
import threading
import time

__all__ = ["Batcher"]

_STOP = None


def _settle_all(pairs):
    for future, result in pairs:
        if future.cancelled():  # the client went away; its rows are logged all the same
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class Batcher:
    """Runs ``scorer.score_many`` on a thread over the requests waiting.

    Parameters
    ----------
    scorer : Scorer
    max_rows : int, default=20_000
        Rows one batch takes at most; more wait for the next.
    """

    def __init__(self, scorer, max_rows=20_000):
        self.scorer, self.max_rows = scorer, max_rows
        self._queue = queue.SimpleQueue()
        self._thread = None
        self._lock = threading.Lock()

    async def score(self, rows, spec=None):
        """The answer to a request, once it is logged."""
        if self._thread is None:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((rows, spec, time.perf_counter(), loop, future))
        return await future

    def _start(self):
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="farout-scorer", daemon=True)
                self._thread.start()

    def stop(self):
        """Finish the requests queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(30)
            self._thread = None

    def _run(self):
        while (first := self._queue.get()) is not _STOP:
            batch, n = [first], len(first[0])
            while n < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
                n += len(item[0])
            try:
                results = self.scorer.score_many([item[:3] for item in batch])
            except BaseException as error:  # the thread must outlive any one batch
                results = [error] * len(batch)
            # one wake-up of each event loop for the whole batch: each wake-up
            # is a write to the loop's socket, and costs more than settling
            settles = {}
            for (*_, loop, future), result in zip(batch, results, strict=True):
                settles.setdefault(loop, []).append((future, result))
            for loop, pairs in settles.items():
                loop.call_soon_threadsafe(_settle_all, pairs)
