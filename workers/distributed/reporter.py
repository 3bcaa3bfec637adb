"""Ships metric points, log lines, checkpoint records and status events to the backend.

Items are buffered and sent in batches by a background thread. Each batch carries the reporter's
``session`` (new for every process start) and a sequence number: the backend stores a batch once
however often it is re-sent. A batch that cannot be delivered is spooled to disk and re-sent, in
order, before newer ones; nothing is dropped while the process lives, and a later reporter of the
same run re-sends what an earlier one left in the spool.

A batch is a ``jobspecs.contract.IngestBatch`` (its items ``MetricPoint``, ``LogLine``, ``CheckpointRecord``,
``Event``), posted as ``batch.to_json()``; the ingestion endpoint checks the same definition. The contract
bounds a batch (``MAX_BATCH_ITEMS``, ``MAX_LOG_LINE``, ...) and this reporter never builds one the endpoint
would refuse: long log lines go in pieces, a batch stops at ``MAX_BATCH_BYTES``, and an item the backend
cannot store (a NaN, a 200-character metric name) is left out with a warning instead of taking the whole
batch down with it.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from pathlib import Path

import requests

from jobspecs.contract import (
    EVENT_STATUSES,
    MAX_BATCH_ITEMS,
    MAX_CHECKPOINT_PATH,
    MAX_LOG_LINE,
    MAX_METRIC_NAME,
    MAX_REASON,
    METRIC_MODES,
    CheckpointRecord,
    ContractError,
    Event,
    IngestBatch,
    LogLine,
    MetricPoint,
)

log = logging.getLogger(__name__)

# JSON bytes of one batch: well under the server's request limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 4 MiB; 413).
MAX_BATCH_BYTES = 2 * 1024 * 1024
__all__ = ["EVENT_STATUSES", "MAX_BATCH_BYTES", "MAX_BATCH_ITEMS", "MAX_CHECKPOINT_PATH", "MAX_LOG_LINE",
           "MAX_METRIC_NAME", "MAX_REASON", "HttpReporter", "log_pieces"]


def log_pieces(line: str) -> list[str]:
    """A log line as pieces of at most ``MAX_LOG_LINE`` characters (one piece when it is short)."""
    return [piece.text for piece in LogLine.pieces(line)]


class HttpReporter:
    """Buffering, retrying reporter for one run (see module docstring).

    Args:
        url: the run's ingestion URL (``.../api/ingest/<run id>``).
        token: the run's ingestion token.
        spool_dir: folder for undelivered batches (on the run's storage).
        storage_root: checkpoint paths are sent relative to this folder.
        flush_interval: seconds between batches.
        max_items: items per batch at most.
    """

    def __init__(self, url: str, token: str, spool_dir: str | Path, *, storage_root: str | Path | None = None,
                 flush_interval: float = 1.0, max_items: int = 2000, request_timeout: float = 10.0):
        self.url = url
        self.session = uuid.uuid4().hex
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.storage_root = Path(storage_root).resolve() if storage_root else None
        self.flush_interval = flush_interval
        self.max_items = max_items
        self.request_timeout = request_timeout
        self.stop_requested = False  # the backend said the run was cancelled
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"Bearer {token}"
        self._lock = threading.Lock()
        self._buf: dict[str, list] = {"metrics": [], "logs": [], "checkpoints": [], "events": []}  # contract items
        self._seq = 0
        self._inflight = 0
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="trainyard-reporter", daemon=True)
        self._thread.start()

    # --- the reporter protocol the engine calls ---------------------------------------------
    def log(self, line: str) -> None:
        for piece in LogLine.pieces(str(line)):
            self._add("logs", piece)

    def metrics(self, step: int, values: dict, epoch: int | None = None, mode: str = "train") -> None:
        if mode not in METRIC_MODES or int(step) < 0:
            self._skip(f"metrics of mode {mode!r} at step {step}", "mode is train or val, step >= 0")
            return
        for name, value in values.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            name = str(name)
            if not math.isfinite(v):
                continue  # a NaN or infinite loss: the log lines show it; a curve cannot hold it
            if not name or len(name) > MAX_METRIC_NAME:
                self._skip(f"metric {name[:80]!r}", f"a name of 1 to {MAX_METRIC_NAME} characters")
                continue
            self._add("metrics", MetricPoint(mode, name, int(step), v, None if epoch is None else int(epoch)))

    def checkpoint(self, path: str, epoch: int, iteration: int, metrics: dict | None = None) -> None:
        p = Path(path).resolve()
        size = p.stat().st_size if p.exists() else 0
        rel = str(p.relative_to(self.storage_root)) if self.storage_root and self.storage_root in p.parents else str(p)
        if len(rel) > MAX_CHECKPOINT_PATH or int(epoch) < 0 or int(iteration) < 0:
            self._skip(f"checkpoint {rel[:80]!r}", f"a path of at most {MAX_CHECKPOINT_PATH} characters")
            return
        metrics = {k: float(v) for k, v in (metrics or {}).items()
                   if isinstance(v, (int, float)) and math.isfinite(v)}
        self._add("checkpoints", CheckpointRecord(rel, int(epoch), int(iteration), size, metrics))
        self._wake.set()

    def event(self, status: str | None, reason: str = "", **extra) -> None:
        """A status change (``running``, ``succeeded``, ``failed``) or, with ``status=None``, facts about
        the run in ``extra`` (``environment=...``; ``early_stopped=True`` with a final status)."""
        if status is not None and status not in EVENT_STATUSES:
            self._skip(f"status {status!r}", f"one of {', '.join(EVENT_STATUSES)}")
            status = None
        if "environment" in extra and not isinstance(extra["environment"], dict):
            extra.pop("environment")
        for key in sorted(set(extra) - {"environment", "early_stopped"}):
            self._skip(f"event fact {key!r}", "environment and early_stopped")
            extra.pop(key)
        item = Event(status, str(reason)[:MAX_REASON])
        try:  # plain JSON from here on (what is not becomes its str); a NaN cannot travel
            text = json.dumps({**item.to_json(), **extra}, default=str, allow_nan=False)
        except ValueError:
            text = None
        if text is None or len(text) > MAX_BATCH_BYTES // 4:
            self._skip(f"the facts of event {status!r}", "finite JSON of at most a quarter of a batch")
        else:
            try:
                item = Event.from_json(json.loads(text))
            except ContractError as err:  # e.g. early_stopped that is not a bool
                self._skip(f"the facts of event {status!r}", str(err))
        self._add("events", item)
        self._wake.set()

    def _skip(self, what: str, rule: str) -> None:
        """An item the backend would refuse (taking its batch with it): left out, with a warning."""
        log.warning("reporter: %s left out (the backend takes %s)", what, rule)

    # --- delivery ------------------------------------------------------------------------------
    def _add(self, kind: str, item) -> None:
        with self._lock:
            self._buf[kind].append(item)
            full = sum(len(v) for v in self._buf.values()) >= self.max_items
        if full:
            self._wake.set()

    def _take_batch(self) -> IngestBatch | None:
        """The next batch: at most ``max_items`` items, ``MAX_BATCH_ITEMS`` of each kind and
        ``MAX_BATCH_BYTES`` of JSON (each item is far below that: the first always fits)."""
        with self._lock:
            if not any(self._buf.values()):
                return None
            kinds: dict[str, tuple] = {}
            room, budget = self.max_items, MAX_BATCH_BYTES - 100  # the envelope: version, session, seq, keys
            for kind, items in self._buf.items():
                n, most = 0, min(room, MAX_BATCH_ITEMS[kind])
                while n < min(most, len(items)):
                    size = len(json.dumps(items[n].to_json())) + 2  # its comma and space
                    if size > budget and (n or room < self.max_items):
                        break
                    budget -= size
                    n += 1
                kinds[kind], self._buf[kind] = tuple(items[:n]), items[n:]
                room -= n
            batch = IngestBatch(session=self.session, seq=self._seq, **kinds)
            self._seq += 1
            self._inflight += 1
            return batch

    def _post(self, batch: IngestBatch) -> bool:
        try:
            r = self._http.post(self.url, json=batch.to_json(), timeout=self.request_timeout)
        except requests.RequestException as exc:
            log.debug("ingest unreachable: %s", exc)
            return False
        if r.status_code == 409:
            self.stop_requested = True
            return True  # nothing more will be stored for this run; do not spool
        if r.status_code >= 500 or r.status_code in (408, 429):
            return False
        if r.status_code >= 400:
            # A batch the backend will never take (e.g. bad token): keep it on disk for a person.
            log.error("ingest refused a batch (%s): %s", r.status_code, r.text[:500])
            self._spool(batch, suffix=".rejected")
        return True

    def _spool(self, batch: IngestBatch, suffix: str = ".json") -> None:
        name = f"{time.time_ns():020d}-{batch.session}-{batch.seq:08d}{suffix}"
        tmp = self.spool_dir / (name + ".tmp")
        tmp.write_text(json.dumps(batch.to_json()))
        tmp.replace(self.spool_dir / name)

    def _resend_spool(self) -> bool:
        """Re-send spooled batches oldest first; False if one still cannot be delivered."""
        for f in sorted(self.spool_dir.glob("*.json")):
            try:  # ContractError is a ValueError: a file this release cannot read is left for a person
                batch = IngestBatch.from_json(json.loads(f.read_text()))
            except (OSError, ValueError):
                continue
            if not self._post(batch):
                return False
            f.unlink(missing_ok=True)
        return True

    def _send_once(self) -> None:
        spool_clear = self._resend_spool()
        while (batch := self._take_batch()) is not None:
            try:
                if not spool_clear or not self._post(batch):
                    self._spool(batch)
                    spool_clear = False
            finally:
                with self._lock:
                    self._inflight -= 1

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._send_once()
            except Exception:  # never let reporting kill training
                log.exception("reporter error")

    def pending(self) -> int:
        with self._lock:
            buffered = sum(len(v) for v in self._buf.values()) + self._inflight
        return buffered + len(list(self.spool_dir.glob("*.json")))

    def flush(self, timeout: float = 30.0) -> bool:
        """Deliver everything now, retrying until ``timeout``; True if nothing is left behind."""
        deadline = time.monotonic() + timeout
        while True:
            self._wake.set()
            time.sleep(0.05)
            if self.pending() == 0 or time.monotonic() > deadline:
                return self.pending() == 0
            time.sleep(min(1.0, self.flush_interval))

    def close(self, timeout: float = 30.0) -> bool:
        ok = self.flush(timeout)
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)
        return ok
