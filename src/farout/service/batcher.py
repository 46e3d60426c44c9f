"""Two threads in a pipeline, scoring and logging whatever requests have
queued up since they last looked (a group commit): concurrent requests
share one scoring call per model and one transaction, and each is answered
only after that transaction commits.

The scorer thread scores a batch while the writer thread commits the one
before: the database driver lets go of Python's interpreter lock while
SQLite (or PostgreSQL's socket) works, so the two overlap on two cores.
The writer is also the service's one writer of predictions, as Datasette
keeps one writer for SQLite.
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
        # one batch scored ahead of the commit under way, no more: a slow
        # database holds the requests back in the queue, not in memory here
        self._scored = queue.Queue(maxsize=1)
        self._threads = None
        self._lock = threading.Lock()

    async def score(self, rows, spec=None):
        """The answer to a request, once it is logged."""
        if self._threads is None:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((rows, spec, time.perf_counter(), loop, future))
        return await future

    def _start(self):
        with self._lock:
            if self._threads is None:
                threads = (
                    threading.Thread(target=self._run, name="farout-scorer", daemon=True),
                    threading.Thread(target=self._write, name="farout-writer", daemon=True),
                )
                for thread in threads:
                    thread.start()
                self._threads = threads

    def stop(self):
        """Finish the requests queued, then end the threads."""
        if self._threads is not None:
            self._queue.put(_STOP)
            for thread in self._threads:
                thread.join(30)
            self._threads = None

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
                prepared = self.scorer.prepare([item[:3] for item in batch])
            except BaseException as error:  # the thread must outlive any one batch
                prepared = error
            self._scored.put((batch, prepared))
        self._scored.put(_STOP)

    def _write(self):
        while (item := self._scored.get()) is not _STOP:
            batch, prepared = item
            try:
                if isinstance(prepared, BaseException):
                    raise prepared
                results = self.scorer.commit(prepared)
            except BaseException as error:  # the thread must outlive any one batch
                results = [error] * len(batch)
            # one wake-up of each event loop for the whole batch: each wake-up
            # is a write to the loop's socket, and costs more than settling
            settles = {}
            for (*_, loop, future), result in zip(batch, results, strict=True):
                settles.setdefault(loop, []).append((future, result))
            for loop, pairs in settles.items():
                loop.call_soon_threadsafe(_settle_all, pairs)
