"""The objects alive when a worker starts, kept out of the garbage
collector's walks while it runs.

Most objects of a job (its Job, context, run, coroutine, outcome) outlive a
collection of the youngest generation: they wait in the prefetch buffer or
run meanwhile. Promoted, they make the collector walk the oldest generation
every few thousand jobs, and that walk reads every object of the process:
the modules, classes and functions of the application (40,000 objects for
the benchmark's no-op app, many more for a Django project), for nothing,
as they live as long as the process. Under py-spy that was 5% of the
worker's CPU per no-op job.

``gc.freeze()`` moves the objects alive at that moment to a permanent
generation that collections skip. It comes after one full collection, so
that no garbage of the start-up is kept, and is undone when the last worker
of the process stops (workers run in a test suite or beside a web app
too). An object frozen and later dropped in a reference cycle is freed only
then: the start-up's objects rarely are. ``freeze_gc=False`` turns it off.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: Workers of this process running with the heap frozen.
_frozen_by = 0


@contextlib.contextmanager
def frozen(enabled: bool) -> Iterator[None]:
    global _frozen_by
    if not enabled:
        yield
        return
    if not _frozen_by:
        gc.collect()
        gc.freeze()
    _frozen_by += 1
    try:
        yield
    finally:
        _frozen_by -= 1
        if not _frozen_by:
            gc.unfreeze()
