"""Message tags and the control-block layout shared by the pool and its workers.

This module is plain constants with no imports so that its source can be
prepended to ``_worker.py`` and run inside every worker interpreter.

Every message is a tuple whose first item is one of the tags below; tuples,
ints, floats, strs, bytes, ``None`` and memoryviews cross interpreters
without pickling.

Main -> worker (a worker's own queue, or the pool's shared queue)::

    (TASK, task_id, kernel_key, args, kwargs, call_id, inject)
                                      args: each a plain scalar or a tagged tuple (A_* below);
                                      inject: 0, INJECT_RANK, INJECT_GANG, INJECT_EACH or
                                      INJECT_TASKS (below)
    (KERNEL, key, blob)               on the control queue; blob: marshal of the kernel's spec
                                      (a worker that cannot define it fails its tasks with
                                      SETUP_FAILED)
    (BUFFER, buffer_id, memoryview)   on the worker's control queue
    (ARENA, chunk_index, memoryview)  on the worker's control queue: a chunk of message slots
                                      (None: the chunk was dropped while the pool was idle)
    (PATH, entries)                   on the control queue: the main interpreter's sys.path
    (FORGET, key)                     on the control queue: drop a kernel (the pool keeps at
                                      most KERNEL_CACHE kernels defined in each worker)
    (EVICT, token, ids)               on the evictions queue (ids: a buffer id or a tuple of
                                      them), served by the worker's watchdog thread even while
                                      a task runs; ack: the int -token
    (STOP,)                           ends the loop of whichever worker takes it
    lo << RING_SHIFT | (hi - lo)      on the stop queue (an int): stop or skip tasks lo..hi
                                      (STOP_ALL: every task)

Worker -> main (the pool's results queue)::

    (DONE, ready_id, rank, None)      a worker's loop has started (ready_id < 0)
    (DONE, task_id, rank, value, seconds)   seconds: how long the kernel ran
    (FAILED, task_id, rank, exc_type, message, traceback_text, pickled_exc)
    (CANCELLED, task_id, rank)
    (BIG, record_base, message)       any message above that did not fit its slot (see below)

Messages in slots. CPython 3.14 frees a queue item's data through a
"pending call" in the interpreter that put it, and that interpreter's pending
call list holds 300 entries: beyond that, releases are dropped and leak (every
str, bytes, float, tuple or memoryview item owed to a busy or blocked
interpreter; ints, None and bools need no release). So the frequent messages
(a task and its outcome) are marshalled into a fixed-size slot of a shared
"arena" owned by the main interpreter, and only an int travels on the queue::

    slot << LENGTH_BITS | length      the message is marshal.loads(slot[:length])

A task's outcome is written back into the task's own slot, which the pool
frees when it has read it. Every path that carries anything else is bounded,
so that no interpreter ever owes more than a few dozen releases:

- a task posted while every slot is in use waits in the pool's backlog (in
  the main interpreter) until an outcome frees one;
- a task too long for a slot (or one marshal cannot write) travels as a
  tuple, at most BIG_TASKS of them in flight per pool, the rest waiting in
  the backlog;
- an outcome too long for its slot (a traceback, a big result) travels as a
  (BIG, record_base, message) tuple. The worker counts them in its record
  (W_BIG_SENT) and the pool acknowledges each one it has taken (W_BIG_TAKEN);
  a worker with BIG_CREDITS unacknowledged waits before it sends another;
- an eviction's acknowledgement is an int.

Barrier tokens travel as ints too.

Control block: one int64 array shared by everyone (see the offsets below).
"""

TASK = 1
KERNEL = 2
BUFFER = 3
EVICT = 4
STOP = 5
ARENA = 6
PATH = 7
FORGET = 8

DONE = 10
FAILED = 11
CANCELLED = 12
DIED = 13  # (DIED, 0, rank, traceback_text): posted by a worker's owner thread
BIG = 14  # (BIG, record_base, message): an outcome that did not fit a slot

BIG_TASKS = 64  # task messages travelling as tuples at once, per pool
BIG_CREDITS = 32  # outcomes travelling as tuples, unacknowledged, per worker
KERNEL_CACHE = 256  # kernels kept defined in each worker (least recently used dropped)

# Control block (int64 slots): a header, the record base of each rank (a retired
# worker's replacement gets a fresh record), then the worker records.
C_MAIN_SLEEPING = 0  # > 0 while the engine's collector thread is blocked on the main wake fd
C_CANCELS = 1  # sequence number of the last entry written to the cancel ring
C_LOW = 2  # every task with a lower id has reported: stops below it can be forgotten
RING = 4096  # cancel ring entries, at sequence % RING: lo << RING_SHIFT | (hi - lo), the ids of
# a cancelled call's tasks; a negative entry takes back the entry it negates (the cancel failed)
RING_SHIFT = 24
STOP_ALL = -1  # on a stop queue: stop every task (the pool broke)
C_HEADER = 8  # slots before the rank -> record map
C_STRIDE = 16  # slots per worker record
W_SLEEPING = 0  # 1 while the worker is blocked on its wake fd
W_STATUS = 1  # STATUS_* below
W_CURRENT = 2  # id of the task being run, 0 when none
W_COMPLETED = 3  # tasks finished by this worker (progress)
W_BIG_SENT = 4  # BIG outcomes put by the worker
W_BIG_TAKEN = 5  # BIG outcomes taken off the queue by the pool
W_WD_BUSY = 6  # 1 while the watchdog decides whether to stop the current task
W_RETIRED = 7  # 1 once the pool has replaced this worker: it ends its loop after its task
W_DECIDED = 8  # task_id once the worker decided to run CURRENT's kernel, -task_id to skip it
W_SKIPPED = 9  # the last SKIP_RING task ids the worker skipped (a ring)
SKIP_RING = 4
W_SKIP_NEXT = W_SKIPPED + SKIP_RING  # count of skipped tasks (the ring's next index)

STATUS_STARTING = 0
STATUS_IDLE = 1
STATUS_RUNNING = 2
STATUS_STOPPED = 3

# First item of a result that was pickled because it is not natively shareable.
PICKLED = "\x00shardmem-pickled"

# Tagged arguments (anything that is not a plain scalar travels as one of these).
A_VIEW = 1  # (A_VIEW, buffer_id, offset, nbytes, format, shape): a typed view of a buffer
A_VALUE = 2  # (A_VALUE, value): a tuple, list or dict of plain values, marshalled as it is
A_PICKLED = 3  # (A_PICKLED, bytes): any other value, pickled
A_RANDOM = 4  # (A_RANDOM, seed): a random.Random(seed), made in the worker

# exc_type of a failure to set a kernel up in a worker (raised as ShippingError by the pool)
SETUP_FAILED = "KernelSetupError"

# Values that ask the worker to bind extra keyword arguments.
INJECTED = ("rank", "size", "barrier")
INJECT_RANK = 1  # a TASK's inject: bind rank and size
INJECT_GANG = 2  # ... and barrier (a gang call: every rank runs one task)
# A chunk of ``Pool.map``: args is one tuple of items, each a tuple of arguments, as they
# are (INJECT_EACH: plain scalars only) or encoded as a task's and marshalled, one bytes
# per item (INJECT_EACH_ENCODED). The
# kernel is called once per item and the task's value is ``(results, failure, stopped)``:
# each result encoded as a task's value, the FAILED message of the item that ended the
# chunk (or None), and whether it stopped early (EACH_STOPPED: its id was put on the cancel
# ring between two items).
INJECT_EACH = 3
INJECT_EACH_ENCODED = 5
EACH_STOPPED = 1  # a map chunk's ``stopped``: its id was put on the cancel ring
# A chunk of one call's tasks (``execute`` with many): args is one tuple of
# ``(args, kwargs)`` pairs, each encoded as a task's; rank and size are bound as for
# INJECT_RANK. The task's value is ``(results,)``; a failure is a FAILED message with one
# more item, the index in the chunk of the task that failed.
INJECT_TASKS = 4

# Message slots (see above). Slot number: chunk << CHUNK_SHIFT | index in the chunk.
SLOT_BYTES = 256
CHUNK_SHIFT = 24
LENGTH_BITS = 16  # a queued slot number carries the message length in its low bits
FIRST_CHUNK = 1024  # slots in chunk 0 (256 KiB); chunk k holds FIRST_CHUNK << k
MAX_CHUNKS = 7  # at most 130,048 messages in slots at once (32 MiB)
