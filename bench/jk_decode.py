"""Benchmark: parse (FrameAssembler) + decode (id walk -> JkStatus) of one JK reply frame.

``bench_parse_decode(cells, repeats)`` returns one sample per repeat, in microseconds per frame;
each sample times a batch of frames so the timer's resolution does not dominate.
"""

from __future__ import annotations

import time

from jk_uart.decode import decode_frame
from jk_uart.protocol import FrameAssembler
from jk_uart.simulator import SimulatedBms

BATCH = 200


def bench_parse_decode(cells: int = 16, repeats: int = 20) -> list[float]:
    """µs per frame to resynchronise, checksum, walk and decode a ``cells``-cell reply, per repeat."""
    frame = SimulatedBms(cells=cells, current_a=-12.5).encode_reply()
    assembler = FrameAssembler()
    samples: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(BATCH):
            (parsed,) = assembler.feed(frame)
            decode_frame(parsed)
        samples.append((time.perf_counter() - start) / BATCH * 1e6)
    return samples


if __name__ == "__main__":
    import statistics

    for n in (3, 16, 32):
        result = bench_parse_decode(n, 30)
        print(f"{n:2d} cells: median {statistics.median(result):.1f} µs/frame, min {min(result):.1f} µs")
