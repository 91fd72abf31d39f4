"""What the garbage collector costs a process: put this directory first on
PYTHONPATH and every Python process started meanwhile records, per
generation, how many collections ran and the CPU time of its thread they
took (time.thread_time, which a busy machine does not inflate as it does
the wall clock), written to $GC_PROBE_OUT (default /tmp/gc_probe.out) after
every full collection and every 100 young ones, with the number of objects
a full collection walked. bench/README.md shows its use on the worker.
"""

import gc
import os
import time

_started: dict[int, float] = {}
_totals = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
_walked = 0


def _on_collection(phase: str, info: dict) -> None:
    global _walked
    generation = info["generation"]
    if phase == "start":
        if generation == 2:
            _walked = len(gc.get_objects())
        _started[generation] = time.thread_time()
        return
    total = _totals[generation]
    total[0] += 1
    total[1] += time.thread_time() - _started[generation]
    if generation == 2 or total[0] % 100 == 0:
        lines = [
            f"generation {g}: {count} collections, {seconds:.3f} s CPU"
            for g, (count, seconds) in _totals.items()
        ]
        lines.append(f"objects walked by the last full collection: {_walked}")
        with open(os.environ.get("GC_PROBE_OUT", "/tmp/gc_probe.out"), "w") as out:
            out.write("\n".join(lines) + "\n")


gc.callbacks.append(_on_collection)
