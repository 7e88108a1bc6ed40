"""The tier's own reading of ``candump -L`` logs and the adapter's record (no VM needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel import canlog

pytestmark = pytest.mark.kernel

LOG = """\
(1796169398.085866) vcan0 351#280258025802F801
(1796169398.108933) slcan0 355#3C006400
(1796169398.148302) vcan0 356#A8149CFFFA00
(1796169398.150000) vcan0 20000004#0040000000000000
(1796169398.160000) vcan0 351#R
(1796169398.209908) vcan0 359#0000000001504E
(1796169399.000001) vcan0 35C#
(1796169399.1) vcan0 35"""


def test_candump_lines_become_frames_and_the_rest_is_skipped() -> None:
    frames = canlog.parse_candump(LOG)
    assert [(f.interface, f.arbitration_id, f.data.hex()) for f in frames] == [
        ("vcan0", 0x351, "280258025802f801"),
        ("slcan0", 0x355, "3c006400"),
        ("vcan0", 0x356, "a8149cfffa00"),
        ("vcan0", 0x20000004, "0040000000000000"),  # an error frame's id: never a set member
        ("vcan0", 0x359, "0000000001504e"),
        ("vcan0", 0x35C, ""),
    ]  # the remote frame and the torn last line are dropped
    assert frames[0].at_s == 1796169398.085866


def test_sets_start_at_each_0x351_on_one_interface() -> None:
    frames = canlog.on(canlog.parse_candump(LOG + "\n(1796169400.0) vcan0 351#00"), "vcan0")
    sets = canlog.frame_sets(frames)
    assert [[f.arbitration_id for f in s] for s in sets] == [[0x351, 0x356, 0x359, 0x35C], [0x351]]
    assert canlog.between(frames, 1796169398.2, 1796169399.0)[0].arbitration_id == 0x359


def test_the_adapter_record_reads_back_as_written(tmp_path: Path) -> None:
    frames = canlog.parse_candump(LOG)
    canlog.write_frames(tmp_path / "adapter.jsonl", frames)
    assert canlog.read_frames(tmp_path / "adapter.jsonl") == frames
    assert canlog.read_candump(tmp_path / "missing.log") == []
