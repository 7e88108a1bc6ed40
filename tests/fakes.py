"""Test doubles: a clock whose sleep advances time, a scripted source and a recording sink."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from gateway_core.model import BatteryReading, GatewayState, Limits, PublishReport


class FakeClock:
    """Monotonic time that only moves when told to (``advance``) or when something sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    def wake(self) -> None:
        pass

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds


def make_reading(
    clock: FakeClock | None = None, *, cells: int = 16, cell_v: float = 3.30, **changes: object
) -> BatteryReading:
    """A plausible 16-cell LiFePO4 reading taken now on ``clock``."""
    cell_voltages = tuple(cell_v for _ in range(cells))
    reading = BatteryReading(
        source_id="fake",
        taken_at_s=clock.now() if clock is not None else 0.0,
        voltage_v=round(sum(cell_voltages), 3),
        current_a=0.0,
        soc_pct=50.0,
        cell_voltages_v=cell_voltages,
        temperatures_c=(20.0, 21.0),
        bms_temperature_c=25.0,
    )
    return replace(reading, **changes)  # type: ignore[arg-type]


Step = BatteryReading | BaseException | Callable[[], BatteryReading]


class FakeSource:
    """Returns, raises or calls the queued steps in order; repeats ``default`` when empty."""

    def __init__(self, clock: FakeClock, steps: Iterable[Step] = (), default: Step | None = None) -> None:
        self.clock = clock
        self.steps: deque[Step] = deque(steps)
        self.default = default
        self.opened = 0
        self.closed = 0
        self.reads = 0
        self.open_error: BaseException | None = None

    def open(self) -> None:
        self.opened += 1
        if self.open_error is not None:
            raise self.open_error

    def read(self) -> BatteryReading:
        self.reads += 1
        step = self.steps.popleft() if self.steps else self.default
        if step is None:
            return make_reading(self.clock)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step()
        return step

    def close(self) -> None:
        self.closed += 1


@dataclass
class FakeSink:
    """Records every publish; ``fail_with`` makes publish (or ``open_error`` open) raise."""

    clock: FakeClock | None = None
    published: list[tuple[BatteryReading | None, Limits]] = field(default_factory=list)
    fail_with: BaseException | None = None
    open_error: BaseException | None = None
    opened: int = 0
    closed: int = 0
    publish_times: list[float] = field(default_factory=list)

    def open(self) -> None:
        self.opened += 1
        if self.open_error is not None:
            raise self.open_error

    def publish(self, reading: BatteryReading | None, limits: Limits) -> PublishReport:
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append((reading, limits))
        if self.clock is not None:
            self.publish_times.append(self.clock.now())
        return PublishReport(frames_sent=1)

    def close(self) -> None:
        self.closed += 1

    @property
    def limits(self) -> list[Limits]:
        return [limits for _, limits in self.published]


class FixedPolicy:
    """Allows ``charge``/``discharge`` amps whatever the reading; ``fail_with`` makes it raise."""

    def __init__(self, charge: float = 50.0, discharge: float = 60.0) -> None:
        from gateway_core.model import LimitFlag

        self.limits = Limits(
            charge, discharge, 55.2, 50.4, LimitFlag.CHARGE | LimitFlag.DISCHARGE, ("fixed test policy",)
        )
        self.fail_with: BaseException | None = None
        self.states: list[GatewayState] = []

    def decide(self, reading: BatteryReading, state: GatewayState) -> Limits:
        self.states.append(state)
        if self.fail_with is not None:
            raise self.fail_with
        return self.limits
