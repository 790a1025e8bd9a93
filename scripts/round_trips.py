"""Where the two compute threads ran, from vae-bench's round trips: shared by scripts/benchmark
and scripts/compare-builds, which mark the runs made with the processors far apart.

A round trip is the time a cache line takes to go from one thread to the other and back
(vae-bench's last two columns: the lowest and highest of its measurements). Near, they spread
over about 2.4 times their lowest (44 to 105 ns on the Zen 4 of docs/performance.md); far,
6 to 11 times it (275 to 480 ns). Over 10 µs no placement explains it: one thread was off its
processor for the measurement (another process, or the host taking the virtual processor: 8 ms
at times on the Xeon of docs/performance.md), so such a figure says nothing of where the threads
ran and is left out: a run with one is far if its other round trips say so, and otherwise of
unknown placement, which the scripts keep out of their near figures.

Run as a script, it reads "NAME TRIP..." lines and prints each name with "far", "interrupted"
or "near" (the tests check the rule this way).
"""
import sys

FAR_FACTOR = 3
INTERRUPTED_NS = 10_000


def placements(trips):
    """trips: {run: [round trip in ns, ...]}. Returns (lowest, far, interrupted): the lowest
    round trip that measured a placement (None without any), the runs with one over
    FAR_FACTOR times it, and the runs with one over INTERRUPTED_NS."""
    placed = {run: [t for t in ts if t <= INTERRUPTED_NS] for run, ts in trips.items()}
    lowest = min((t for ts in placed.values() for t in ts), default=None)
    far = {run for run, ts in placed.items() if ts and max(ts) > FAR_FACTOR * lowest}
    interrupted = {run for run, ts in trips.items() if any(t > INTERRUPTED_NS for t in ts)}
    return lowest, far, interrupted


if __name__ == "__main__":
    trips = {fields[0]: [float(t) for t in fields[1:]] for fields in map(str.split, sys.stdin) if fields}
    _, far, interrupted = placements(trips)
    for name in trips:
        print(name, "far" if name in far else "interrupted" if name in interrupted else "near")
