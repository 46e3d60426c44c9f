"""The alert worker: a thread beside the service that turns the log into
alerts (:class:`~.outbox.Outbox`) and posts them to their webhooks with
httpx, retrying with bounded exponential backoff. It never touches the
scoring path: scoring only logs, and a dead receiver costs this thread its
timeouts, nothing else.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from prometheus_client import Counter, Gauge

from ... import __version__
from ...summary import flag_rate
from ..errors import ServiceError
from .outbox import Outbox

__all__ = ["AlertWorker", "ModelFacts", "backoff"]

log = logging.getLogger("farout.alerts")

#: The baseline of a model whose file says none (not a farout detector).
FALLBACK_BASELINE = 0.01
#: Answers that retrying will not mend (a wrong URL, a refused payload).
_RETRYABLE_4XX = (408, 425, 429)
#: Deliveries recorded in one transaction at most; a server killed before
#: the record sends those again (delivery is at least once).
_RECORD_EVERY = 50


def backoff(attempts, first, most):
    """Seconds before the next attempt after ``attempts`` failed ones:
    ``first``, doubled each time, never more than ``most``."""
    return min(most, first * 2.0 ** (attempts - 1))


class ModelFacts:
    """Each model version's tier names and training alert rate, read from
    the registry once."""

    def __init__(self, registry):
        self.registry, self._facts, self._lock = registry, {}, threading.Lock()

    def _of(self, name, version):
        key = (name, version)
        with self._lock:
            if key not in self._facts:
                try:
                    model = self.registry.load(name, version)
                    tiers = [n for n, _ in getattr(model, "tiers_", None) or []]
                    summary = getattr(model, "training_summary_", None)
                    rate = flag_rate(summary)[0] if summary else FALLBACK_BASELINE
                except Exception:  # a model that went missing still has its flags sent
                    log.warning(
                        "alerts: cannot read model %s/%s; all its flags pass", name, version
                    )
                    tiers, rate = [], FALLBACK_BASELINE
                self._facts[key] = (tiers, rate)
            return self._facts[key]

    def tiers(self, name, version):
        return self._of(name, version)[0]

    def baseline(self, name, version):
        return self._of(name, version)[1]


class _Meters:
    def __init__(self, registry):
        def counter(name, text):
            return Counter(name, text, ["destination"], registry=registry)

        self.delivered = counter("farout_alerts_delivered", "Alerts a webhook took (2xx).")
        self.failed = counter("farout_alerts_failed", "Alerts given up on after their attempts.")
        self.retried = counter("farout_alerts_retried", "Failed attempts that will be retried.")
        self.suppressed = counter(
            "farout_alerts_suppressed", "Alerts not sent: over the destination's rate limit."
        )
        self.storm_rows = Counter(
            "farout_alert_storm_rows",
            "Flagged rows held back by an alert storm.",
            registry=registry,
        )
        self.storms = Gauge(
            "farout_alert_storm_active", "1 while an alert storm lasts.", registry=registry
        )


class AlertWorker:
    """Runs the outbox and the deliveries every ``config.poll`` seconds.

    Parameters
    ----------
    db : Database
    registry : Registry
    config : AlertConfig
    metrics : Metrics
        Its registry gets the alert counters.
    """

    def __init__(self, db, registry, config, metrics):
        self.config = config
        self.outbox = Outbox(db, config, ModelFacts(registry))
        self.meters = _Meters(metrics.registry)
        self.urls = {d.name: d.url for d in config.destinations}
        retry = config.retry
        self.http = httpx.Client(
            timeout=httpx.Timeout(retry.timeout),
            headers={"User-Agent": f"farout/{__version__}", "Content-Type": "application/json"},
            follow_redirects=False,
        )
        self._held = {}  # destination -> time before which it is not tried again
        self._stop = threading.Event()
        self._thread = None
        self._busy = {}  # destination -> the future of its sends in flight
        self._pool = ThreadPoolExecutor(
            min(16, len(self.urls)), thread_name_prefix="farout-webhook"
        )

    def start(self):
        self.outbox.ensure_cursor()
        self.meters.storms.set(self.outbox.active_storms())
        self._thread = threading.Thread(target=self._run, name="farout-alerts", daemon=True)
        self._thread.start()

    def stop(self):
        """Finish the attempt in hand, then end; what is left is picked up
        at the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.config.retry.timeout * 2 + 5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.step()
            except ServiceError as error:  # the database is away: the next pass retries
                log.warning("alerts: %s", error.message)
            except Exception:  # the worker outlives any one pass; the next retries it
                log.exception("alerts: a pass failed")
            self._stop.wait(self.config.poll)

    def step(self):
        """One pass: new alerts from the log, then the deliveries due."""
        done = self.outbox.collect()
        for name, n in done.suppressed.items():
            self.meters.suppressed.labels(name).inc(n)
        self.meters.storm_rows.inc(done.storm_rows)
        if done.storms_started or done.storms_ended:
            self.meters.storms.set(self.outbox.active_storms())
        self.deliver()

    def deliver(self):
        """Hand each destination its due deliveries, on its own thread; one
        still busy with a slow receiver is left to finish, and the others
        (and the next pass over the log) go on without it."""
        now = time.time()
        skip = {d for d, f in self._busy.items() if not f.done()}
        skip |= {d for d, until in self._held.items() if until > now}
        ready = [d for d in self.urls if d not in skip]
        for destination, rows in self.outbox.due(now, ready).items():
            self._busy[destination] = self._pool.submit(self._send_all, destination, rows)

    def _send_all(self, destination, rows):
        done = []  # deliveries, recorded together
        try:
            for row in rows:
                if self._stop.is_set():
                    return
                if not self._send(destination, row, done):
                    return  # the rest wait for the receiver, without spending their attempts
                if len(done) >= _RECORD_EVERY:
                    self.outbox.delivered(done)
                    done.clear()
        except Exception:  # the next pass tries again
            log.exception("alerts: delivering to %s failed", destination)
        finally:
            try:
                self.outbox.delivered(done)
            except Exception:  # sent but not recorded: sent again (at least once)
                log.exception("alerts: recording deliveries to %s failed", destination)

    def _send(self, destination, row, done):
        retry, attempts = self.config.retry, row.attempts + 1
        headers = {"X-Farout-Alert-Id": str(row.id), "Idempotency-Key": row.alert_key}
        wait_at_least = 0.0
        try:
            answer = self.http.post(self.urls[destination], content=row.payload, headers=headers)
        except httpx.HTTPError as error:
            problem, permanent = f"{type(error).__name__}: {error}" or "no answer", False
        else:
            if 200 <= answer.status_code < 300:
                done.append((row.id, attempts, time.time()))
                self.meters.delivered.labels(destination).inc()
                return True
            code = answer.status_code
            problem = f"HTTP {code}: {answer.text[:200]}".rstrip(": ")
            permanent = 400 <= code < 500 and code not in _RETRYABLE_4XX
            if code in (429, 503):
                wait_at_least = _retry_after(answer.headers.get("Retry-After"))
        if permanent or attempts >= retry.max_attempts:
            why = "refused" if permanent else f"gave up after {attempts} attempts"
            self.outbox.mark(row.id, "failed", attempts, f"{why}: {problem}")
            self.meters.failed.labels(destination).inc()
            log.warning("alerts: delivery %s to %s failed: %s", row.id, destination, problem)
            return permanent  # a refused payload says nothing of the next one
        wait = max(backoff(attempts, retry.backoff, retry.max_backoff), wait_at_least)
        wait = min(retry.max_backoff, wait)
        next_at = time.time() + wait
        self.outbox.mark(row.id, "retrying", attempts, problem, next_at)
        self.meters.retried.labels(destination).inc()
        self._held[destination] = next_at
        return False


def _retry_after(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0
