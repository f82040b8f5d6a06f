"""Work spread over processes: `parallel_map(fn, shared, items, jobs)` yields `fn(shared, item)`
for every item, computed by `jobs` worker processes.

The workers are forked, so `shared` (the checked repository: a large graph of objects) is
inherited rather than pickled; only the items and the results cross a pipe. Results come back in
no particular order, as soon as each is done, so the caller can stream them (to the writer) and
hold none for long. Where fork is unavailable (Windows), or with jobs <= 1, everything runs in
this process, in order. The results are the same either way: workers compute exactly what this
process would.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator

_shared: tuple | None = None  # (fn, shared) in a forked worker


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _run(item):
    fn, shared = _shared
    return fn(shared, item)


def parallel_map(fn: Callable, shared, items: Iterable, jobs: int) -> Iterator:
    items = list(items)
    if jobs <= 1 or len(items) < 2 or sys.platform == "win32":
        for item in items:
            yield fn(shared, item)
        return
    import multiprocessing

    global _shared
    _shared = (fn, shared)
    # Objects that exist now are never garbage in a worker: keep the collector from walking (and
    # so copying) the inherited pages.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(items))) as pool:
            # Small chunks: units differ in cost (a team's lineage page against a project's card).
            yield from pool.imap_unordered(_run, items, chunksize=max(1, min(8, len(items) // (jobs * 16))))
    finally:
        _shared = None
        gc.unfreeze()
