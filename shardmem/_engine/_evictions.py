"""Buffers the workers view: drop each view once its buffer is closed or dropped."""

from __future__ import annotations

import os
import threading
import time
import weakref

from shardmem._data.buffer import (
    SharedBuffer,
    release_is_a_drop,
)
from shardmem._engine import _protocol as P  # noqa: N812
from shardmem._engine._handoff import qput
from shardmem._engine._state import (
    EVICT_BATCH,
    EVICT_BYTES,
    EVICT_DELAY,
    STOP_GRACE,
    EngineState,
)


class _Eviction:
    def __init__(self, count: int) -> None:
        self.left = count
        self.done = threading.Event()
        self.followers: list[_Eviction] = []
        self.buffer_ids: tuple[int, ...] = ()
        if not count:
            self.done.set()

    def finish(self) -> None:
        """Acknowledged by every holder: wake whoever waits, and those queued behind."""
        self.done.set()
        for follower in self.followers:
            follower.finish()


class Evictions(EngineState):
    """Drop the workers' views of closed and dropped buffers (collector thread)."""

    def on_buffer_released(self, buffer_id: int) -> None:
        """Release listener: drop every worker's view of a closing buffer, then return."""
        if self.closed or self.finished.is_set():
            return  # the workers drop every view as they end
        # close() frees the memory at once, so it waits until no worker views it; a
        # buffer dropped without close() is freed by the last view that goes, and its
        # eviction is batched with others (see _defer).
        if release_is_a_drop():
            # The collector's own weak reference to the buffer reports the drop (see
            # _watch_buffer): unlike this listener, a Ctrl-C cannot lose that (issue 24).
            return
        eviction = _Eviction(1)
        self.post(("evict", buffer_id, eviction))
        if threading.current_thread() is not self.collector:
            eviction.done.wait(STOP_GRACE)

    def _watch_buffer(self, buffer: SharedBuffer) -> None:
        """Evict ``buffer`` from the workers once it is dropped (see ``_serve_dropped``)."""
        if buffer.id not in self.watched:
            ref = weakref.ref(buffer, self.dropped.append)
            self.buffer_refs[id(ref)] = (buffer.id, ref)
            self.watched.add(buffer.id)

    def _evicted(self, token: int) -> None:
        eviction = self.evictions.pop(token, None)
        if eviction is not None:
            eviction.left -= 1
            if eviction.left <= 0:
                self._eviction_done(eviction)
            else:
                self.evictions[token] = eviction  # (one token per worker: see _evict)

    def _eviction_done(self, tracker: _Eviction) -> None:
        for bid in tracker.buffer_ids:
            if self.evicting.get(bid) is tracker:
                del self.evicting[bid]
        tracker.finish()

    def _evict(self, buffer_id: int, eviction: _Eviction | None) -> None:
        running = self.evicting.get(buffer_id)
        if running is not None and not running.done.is_set():
            if eviction is not None:
                running.followers.append(eviction)  # done when the one in flight is
            return
        holders = [w for w in (*self.workers, *self.retired) if buffer_id in w.buffers]
        if self.in_use.get(buffer_id):
            self.evict_later.add(buffer_id)  # a call in flight uses it: after that call
            holders = []
        if not holders:
            self.nbytes.pop(buffer_id, None)
            if eviction is not None:
                eviction.done.set()
            return
        if eviction is None:  # nobody waits: batched with other dropped buffers
            self._defer(buffer_id)
            return
        self.nbytes.pop(buffer_id, None)
        token = self.next_id
        self.next_id += 1
        tracker = eviction or _Eviction(len(holders))
        tracker.left = len(holders)
        tracker.buffer_ids = (buffer_id,)
        self.evictions[token] = tracker
        self.evicting[buffer_id] = tracker
        for w in holders:
            w.buffers.discard(buffer_id)
            qput(w.evicts.id, (P.EVICT, token, buffer_id))
            try:
                os.write(w.watch_w, b"e")
            except OSError:
                tracker.left -= 1
        if tracker.left <= 0:
            self.evictions.pop(token, None)
            self._eviction_done(tracker)

    def _defer(self, buffer_id: int) -> None:
        """Evict a dropped buffer later, with others: one message per worker per batch.

        A loop of calls that each allocate an output would otherwise pay a wake-up
        of every worker's watchdog per call. The batch goes when it holds
        EVICT_BATCH buffers or EVICT_BYTES bytes, or once no call is in flight and
        the oldest waited EVICT_DELAY seconds.
        """
        if not self.deferred:
            self.deferred_since = time.monotonic()
        self.deferred[buffer_id] = None
        self.deferred_bytes += self.nbytes.get(buffer_id, 0)
        if len(self.deferred) >= EVICT_BATCH or self.deferred_bytes >= EVICT_BYTES:
            self._flush_evictions()

    def _due_evictions(self) -> bool:
        return bool(self.deferred) and (
            not self.owner and time.monotonic() - self.deferred_since >= EVICT_DELAY
        )

    def _flush_evictions(self) -> None:
        ids = self.deferred
        self.deferred, self.deferred_bytes = {}, 0
        for bid in ids:
            self.nbytes.pop(bid, None)
        messaged = 0
        token = self.next_id
        self.next_id += 1
        tracker = _Eviction(1)
        for w in (*self.workers, *self.retired):
            held = tuple(bid for bid in ids if bid in w.buffers)
            if not held:
                continue
            w.buffers.difference_update(held)
            qput(w.evicts.id, (P.EVICT, token, held))
            try:
                os.write(w.watch_w, b"e")
                messaged += 1
            except OSError:
                pass
        tracker.left = messaged
        if messaged:
            # A close() of one of these buffers must wait for this batch (see _evict).
            tracker.buffer_ids = tuple(ids)
            for bid in ids:
                self.evicting[bid] = tracker
            self.evictions[token] = tracker
