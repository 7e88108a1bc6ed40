"""Pure: the CVL step-down limit some inverters need (Deye discharges into the grid on a CVL drop).

Only the charge voltage limit falls gradually, and only downwards; a higher CVL and every current
limit take effect at once, so protection is never slowed.
"""

from __future__ import annotations


class CvlRamp:
    """Lowers a sent CVL towards its target no faster than ``rate_v_per_min`` (0: at once)."""

    def __init__(self, rate_v_per_min: float) -> None:
        self._rate = rate_v_per_min
        self._value: float | None = None
        self._at_s: float | None = None

    def step(self, target_v: float, now_s: float | None) -> float:
        """The CVL to send now for ``target_v``: at once when rising, rate-limited when falling.

        Without a clock time (``now_s`` None) or a rate, the target goes out unchanged.
        """
        value = self._value
        if value is None or self._at_s is None or now_s is None or self._rate <= 0 or target_v >= value:
            sent = target_v
        else:
            elapsed_min = max(0.0, now_s - self._at_s) / 60.0
            sent = max(target_v, value - self._rate * elapsed_min)
        self._value, self._at_s = sent, now_s
        return sent
