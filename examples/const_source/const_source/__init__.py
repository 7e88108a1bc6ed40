"""Example third-party plugin: a BMS source that always reports the same, configurable battery.

Useful to try an inverter sink without a BMS, and as the smallest complete plugin to copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_core import BatteryReading, PluginContext, Register, hookimpl, setting


@dataclass(frozen=True, slots=True)
class ConstConfig:
    """The ``[const]`` section."""

    cells: int = setting(16, min=1, max=32, help="cells in series")
    cell_voltage: float = setting(3.30, min=2.0, max=4.5, unit="V", help="voltage of every cell")
    soc: float = setting(60.0, min=0, max=100, unit="%", help="state of charge")
    current: float = setting(0.0, min=-500, max=500, unit="A", help="pack current, + = charging")
    temperature: float = setting(20.0, min=-40, max=100, unit="°C", help="both probes")


class ConstSource:
    """Reports the configured battery, stamped with the gateway's clock."""

    def __init__(self, config: ConstConfig, ctx: PluginContext) -> None:
        self._config = config
        self._ctx = ctx

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> BatteryReading:
        """The configured battery, taken now."""
        c = self._config
        cells = tuple(c.cell_voltage for _ in range(c.cells))
        return BatteryReading(
            source_id=self._ctx.name,
            taken_at_s=self._ctx.clock.now(),
            voltage_v=round(sum(cells), 3),
            current_a=c.current,
            soc_pct=c.soc,
            cell_voltages_v=cells,
            temperatures_c=(c.temperature, c.temperature),
        )

    def close(self) -> None:
        """Nothing to close."""


@hookimpl
def gateway_register_sources(register: Register) -> None:
    """Register the ``const`` source."""
    register("const", ConstSource, config=ConstConfig, description="a constant battery (example plugin)")
