"""A resumable parser: feed bytes as they arrive, get the JBD frames they complete.

Pure. It resynchronises on ``DD`` and checks each candidate's ``77`` end (at the place its length
byte gives: replies vary in length with the firmware) and checksum; with :meth:`FrameAssembler.reset`
``expect=register`` it also refuses a valid reply to another register and a request (our own, echoed
by a half-duplex adapter). Every dropped piece is recorded as a :class:`Rejection` with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .protocol import OVERHEAD, START, Frame, check_candidate, frame_size, register_name, to_frame
from .upseries import find_up_frame

HISTORY = 2048  # bytes kept to recognise UP-series traffic


@dataclass(frozen=True, slots=True)
class Rejection:
    """Bytes the parser dropped: ``reason`` (see :data:`jbd.protocol.REASONS` and ``garbage``), a
    one-line ``detail`` and how many bytes went (0 for a note that dropped nothing itself)."""

    reason: str
    detail: str
    dropped: int


class FrameAssembler:
    """Resumable parser; :meth:`feed` never raises, it records why it dropped bytes in :attr:`rejections`.

    A candidate that fails its end byte or checksum loses its first byte and the rest is rescanned (a
    false ``DD`` may overlap the real frame). An incomplete candidate followed by a complete frame is
    dropped at once, so stale leading bytes (a reply cut short) do not hold up the next one.
    """

    def __init__(self, on_reject: Callable[[Rejection], None] | None = None, keep: int = 32) -> None:
        self._buf = bytearray()
        self._history = bytearray()
        self._on_reject = on_reject
        self._keep = keep
        self._expect: int | None = None
        self._up_noted = False
        self.rejections: list[Rejection] = []

    @property
    def pending(self) -> int:
        """Bytes buffered and not yet part of a frame."""
        return len(self._buf)

    def waiting_for(self) -> int | None:
        """Total bytes of the candidate being assembled, or None when no length byte is in yet."""
        if len(self._buf) >= 4 and self._buf[0] == START:
            return frame_size(self._buf)
        return None

    def reset(self, expect: int | None = None) -> None:
        """Forget buffered bytes and past rejections; from now on accept only replies to ``expect``
        (any frame, requests included, when None)."""
        self._buf.clear()
        self._history.clear()
        self._up_noted = False
        self._expect = expect
        self.rejections.clear()

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """Append ``data`` and return every accepted frame now complete, in order."""
        self._buf += data
        self._history += data
        del self._history[:-HISTORY]
        return self._scan()

    def expire(self) -> list[Frame]:
        """The deadline passed: note UP-series traffic among the bytes seen (once), drop the pending
        candidate's first byte (truncated) and rescan."""
        if not self._up_noted:
            found = find_up_frame(self._history)
            if found is not None:
                self._up_noted = True
                self.note(Rejection("unsupported", found.describe(), 0))
        if self._buf and self._buf[0] == START:
            expected = self.waiting_for()
            have = f"got {len(self._buf)} of {expected} bytes" if expected else f"got {len(self._buf)} bytes"
            self._reject(Rejection("truncated", f"incomplete frame at the deadline: {have}", 1))
            return self._scan()
        return []

    def note(self, rejection: Rejection) -> None:
        """Record ``rejection`` (also for a caller dropping a frame on its own grounds, e.g. late)."""
        self.rejections.append(rejection)
        del self.rejections[: -self._keep]
        if self._on_reject is not None:
            self._on_reject(rejection)

    def _reject(self, rejection: Rejection) -> None:
        del self._buf[: rejection.dropped]
        self.note(rejection)

    def _accept(self, frame: Frame) -> bool:
        expect = self._expect
        if expect is None:
            return True
        if frame.request:
            what = f"a request for register {register_name(frame.register)}"
            self.note(Rejection("echo", f"{what} (our own, echoed by the adapter?)", len(frame.raw)))
            return False
        if frame.register != expect:
            self.note(
                Rejection(
                    "register",
                    f"a reply to register {register_name(frame.register)}, not to the "
                    f"{register_name(expect)} asked for",
                    len(frame.raw),
                )
            )
            return False
        return True

    def _later_frame(self) -> int | None:
        """Offset of a complete, valid frame after the incomplete candidate at 0, if any."""
        buf = self._buf
        at = buf.find(START, 1)
        while at >= 0:
            if len(buf) - at >= OVERHEAD and len(buf) - at >= frame_size(buf[at:]):
                end = at + frame_size(buf[at:])
                if check_candidate(buf[at:end]) is None:
                    return at
            at = buf.find(START, at + 1)
        return None

    def _scan(self) -> list[Frame]:
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = buf.find(START)
            if start < 0:
                self._reject(Rejection("garbage", f"{len(buf)} bytes of garbage, no frame start", len(buf)))
                break
            if start > 0:
                self._reject(Rejection("garbage", f"{start} bytes of garbage before a frame start", start))
                continue
            if len(buf) < 4 or len(buf) < frame_size(buf):
                later = self._later_frame() if len(buf) >= 4 else None
                if later is None:
                    break
                need = frame_size(buf)
                self._reject(
                    Rejection(
                        "truncated", f"incomplete frame ({later} of {need} bytes) cut short by another", later
                    )
                )
                continue
            size = frame_size(buf)
            refused = check_candidate(buf[:size])
            if refused is not None:
                self._reject(Rejection(*refused, 1))
                continue
            frame = to_frame(buf[:size])
            del buf[:size]
            if self._accept(frame):
                frames.append(frame)
        return frames
