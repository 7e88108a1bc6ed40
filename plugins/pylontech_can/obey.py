"""Pure: does the inverter obey the limits? The measured pack current against what was published.

The battery's own measurement is compared with the limits the inverter had when it was taken (those
of the previous publish). Charging above the CCL, or discharging above the DCL, by more than
``margin_a`` for longer than ``after_s`` is an episode: a problem every cycle until the current is
back within the limits (or there is no fresh reading to judge by).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    """One cycle's result: the problem text while the inverter ignores the limits, else None."""

    problem: str | None = None
    started: bool = False  # True on the cycle an episode begins being reported (log it once)
    ended: bool = False  # True on the cycle a reported episode ends

    @property
    def ignored(self) -> bool:
        """True while the inverter ignores the limits."""
        return self.problem is not None


class ObedienceWatch:
    """Tracks exceedance episodes; feed it one :meth:`check` per publish."""

    def __init__(self, margin_a: float, after_s: float) -> None:
        self._margin = margin_a
        self._after = after_s
        self._since: float | None = None
        self._reported = False

    def check(self, now_s: float, current_a: float | None, limits_a: tuple[float, float] | None) -> Verdict:
        """Judge ``current_a`` (+ = charging) against ``limits_a`` = (CCL, DCL) in effect when measured.

        ``current_a`` or ``limits_a`` None (no fresh reading, nothing published yet) ends any episode.
        """
        text = None if current_a is None or limits_a is None else self._excess(current_a, *limits_a)
        if text is None:
            ended = self._reported
            self._since, self._reported = None, False
            return Verdict(ended=ended)
        if self._since is None:
            self._since = now_s
        lasted = now_s - self._since
        if lasted <= self._after:
            return Verdict()
        started = not self._reported
        self._reported = True
        return Verdict(f"inverter ignores limits: {text} for {lasted:.0f} s", started=started)

    def _excess(self, current_a: float, charge_limit_a: float, discharge_limit_a: float) -> str | None:
        if current_a > charge_limit_a + self._margin:
            return f"charging at {current_a:.1f} A with a {charge_limit_a:g} A charge limit"
        if -current_a > discharge_limit_a + self._margin:
            return f"discharging at {-current_a:.1f} A with a {discharge_limit_a:g} A discharge limit"
        return None
