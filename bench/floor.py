"""The physical floor: how long the bytes and bits take on the wires, whatever the software does.

UART 8N1 costs 10 bit times per byte. A classic CAN data frame with an 11-bit id costs
SOF(1) + id(11) + RTR(1) + IDE(1) + r0(1) + DLC(4) + data(8n) + CRC(15) + CRC delimiter(1) +
ACK(2) + EOF(7) + interframe space(3) = 47 + 8n bits, plus one stuff bit after every five equal
bits from SOF to the end of the CRC. :func:`can_frame_bits` counts those stuff bits exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: JK read-all request: always 21 bytes (L = 19).
JK_REQUEST_BYTES = 21
#: Pylontech set as the gateway sends it with a reading: (id, DLC) of 0x351 ... 0x35E.
PYLONTECH_SET = ((0x351, 8), (0x355, 4), (0x356, 6), (0x359, 7), (0x35C, 2), (0x35E, 8))


def jk_reply_bytes(cells: int) -> int:
    """Bytes of a new-firmware read-all reply for ``cells`` cells (L = 241 + 3N, frame = L + 2)."""
    return 241 + 3 * cells + 2


def uart_seconds(n_bytes: int, baud: int = 115200, bits_per_byte: int = 10) -> float:
    """Wire time of ``n_bytes`` on a UART (8N1: 10 bits per byte)."""
    return n_bytes * bits_per_byte / baud


def _crc15(bits: Sequence[int]) -> int:
    crc = 0
    for bit in bits:
        top = ((crc >> 14) & 1) ^ bit
        crc = (crc << 1) & 0x7FFF
        if top:
            crc ^= 0x4599
    return crc


def _bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def can_frame_bits(arbitration_id: int, data: bytes) -> int:
    """Exact bit count of one classic 11-bit-id data frame, stuff bits and interframe space included."""
    dlc = len(data)
    head = [0, *_bits(arbitration_id, 11), 0, 0, 0, *_bits(dlc, 4)]
    for byte in data:
        head += _bits(byte, 8)
    stuffed = head + _bits(_crc15(head), 15)
    stuff = 0
    run_bit, run = -1, 0
    for bit in stuffed:
        if bit == run_bit:
            run += 1
        else:
            run_bit, run = bit, 1
        if run == 5:
            stuff += 1
            run_bit, run = 1 - bit, 1  # the stuff bit is the complement and starts a new run
    return len(stuffed) + stuff + 1 + 2 + 7 + 3


def can_worst_bits(dlc: int) -> int:
    """Upper bound of one frame's bits: every possible stuff bit inserted."""
    stuffed_region = 34 + 8 * dlc
    return 47 + 8 * dlc + (stuffed_region - 1) // 4


def can_seconds(bits: int, bitrate: int = 500_000) -> float:
    """Wire time of ``bits`` at ``bitrate``."""
    return bits / bitrate


def can_set_bits(frames: Iterable[tuple[int, bytes]]) -> int:
    """Exact bits of a frame set given as (id, data) pairs."""
    return sum(can_frame_bits(arbitration_id, data) for arbitration_id, data in frames)


def floor_figures(frames: Sequence[tuple[int, bytes]] | None = None) -> dict[str, float]:
    """The floor figures in milliseconds: UART request + reply (16 and 32 cells), CAN frame set.

    ``frames`` is a real frame set to count exactly; without it the documented DLCs with all-zero
    data are counted, and the worst case (every stuff bit) is given too.
    """
    if frames is None:
        frames = [(arbitration_id, bytes(dlc)) for arbitration_id, dlc in PYLONTECH_SET]
    worst = sum(can_worst_bits(len(data)) for _, data in frames)
    return {
        "uart_16_cells_ms": 1e3 * uart_seconds(JK_REQUEST_BYTES + jk_reply_bytes(16)),
        "uart_32_cells_ms": 1e3 * uart_seconds(JK_REQUEST_BYTES + jk_reply_bytes(32)),
        "can_set_ms": 1e3 * can_seconds(can_set_bits(frames)),
        "can_set_worst_ms": 1e3 * can_seconds(worst),
        "can_set_bits": float(can_set_bits(frames)),
    }
