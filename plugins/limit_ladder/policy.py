"""The limit_ladder policy: a pure ``decide(reading, memory, state, config)`` and a thin stateful class.

Order of rules, each adding a reason when it sets or caps a value: ladder with hysteresis ->
configured ceiling -> BMS over-current protection -> temperature -> BMS MOSFETs and alarms ->
oscillation counteraction -> ramp. The charge voltage comes from the charge state (bulk, absorption,
float) and the runaway-cell control, and the SOC the inverter sees from the charge state too
(:mod:`.charging`). Time comes only from ``state.now_s``. The class keeps the memory, logs changes,
and keeps the memory in a file across restarts (:mod:`.state_file`, :mod:`.memory_codec`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import replace

from gateway_core.model import BatteryReading, GatewayState, LimitFlag, Limits
from gateway_core.roles import PluginContext

from .charging import charge_voltage
from .config import LadderConfig
from .counteract import counteract
from .memory import LadderMemory
from .memory_codec import change_key, decode, encode
from .rerise import charge_ladder, discharge_ladder
from .safety import CHARGE, DISCHARGE, bms_cap, charge_temperature, discharge_temperature, stop_reasons
from .state_file import BootIdReader, Saver, StateFile, file_name, read_boot_id, state_dir
from .voltage import pack_voltages

__all__ = ["LadderMemory", "LadderPolicy", "decide"]


class _Limit:
    """One limit being built: its amps and the reasons that set it."""

    def __init__(self, amps: float, reasons: tuple[str, ...]) -> None:
        self.amps = amps
        self.reasons = list(reasons)

    def cap(self, amps: float | None, reason: str | None) -> None:
        """Lower to ``amps`` (a reason is kept only when it binds)."""
        if amps is not None and amps < self.amps:
            self.amps = max(0.0, amps)
            if reason:
                self.reasons.append(reason)

    def zero(self, reasons: tuple[str, ...]) -> None:
        """Stop (every stop reason is kept, even when already at 0 A)."""
        if reasons:
            self.amps = 0.0
            self.reasons.extend(reasons)


def _floor(amps: float) -> float:
    """Round down to 0.1 A (the inverter's resolution), never above the computed limit."""
    return max(0.0, math.floor(amps * 10 + 1e-9) / 10)


def decide(
    reading: BatteryReading, memory: LadderMemory, state: GatewayState, config: LadderConfig
) -> tuple[Limits, LadderMemory]:
    """Limits for ``reading`` and the memory for the next cycle; pure (time is ``state.now_s``).

    :raises PolicyError: the configured voltages are implausible for the reading's cell count.
    """
    now = state.now_s
    volts = pack_voltages(reading, config)
    dvl_why = f"DVL {volts.dvl_v:.2f} V: {volts.dvl_how}"
    age = now - reading.taken_at_s
    if age > config.max_reading_age_s:
        why = (
            f"charge and discharge 0 A: the reading is {age:.1f} s old "
            f"(max_reading_age_s {config.max_reading_age_s:g})"
        )
        kept = charge_voltage(reading, memory.charge_state, now, volts, config, advance=False)
        limits = Limits(
            0.0,
            0.0,
            kept.cvl_v,
            volts.dvl_v,
            LimitFlag.NONE,
            (why, *kept.reasons, dvl_why),
            reported_soc_pct=kept.reported_soc_pct,
            charge_state=kept.state if config.charge_states else None,
        )
        return limits, replace(memory, last_now_s=now, last_output=(0.0, 0.0), events=())
    charge_held, charge_notes = charge_ladder(reading, memory.charge, config, now)
    discharge_held, discharge_notes = discharge_ladder(reading, memory.discharge, config, now)
    charge = _Limit(charge_held.amps, charge_notes)
    discharge = _Limit(discharge_held.amps, discharge_notes)

    charge.cap(
        config.max_charge_current, f"charge capped at {config.max_charge_current:g} A by max_charge_current"
    )
    discharge.cap(
        config.max_discharge_current,
        f"discharge capped at {config.max_discharge_current:g} A by max_discharge_current",
    )
    if config.respect_bms_limits:
        for limit, kind in ((charge, CHARGE), (discharge, DISCHARGE)):
            cap = bms_cap(reading, kind)
            if cap is not None:
                limit.cap(cap, f"{kind} capped at {cap:g} A by the BMS {kind} over-current protection")

    charge_temp = charge_temperature(reading, config, memory.charge_temp_blocked)
    discharge_temp = discharge_temperature(reading, config, memory.discharge_temp_blocked)
    for limit, verdict in ((charge, charge_temp), (discharge, discharge_temp)):
        if verdict.blocked:
            limit.zero((verdict.reason,) if verdict.reason else ("temperature outside the window",))
        else:
            limit.cap(verdict.cap_a, verdict.reason)
    charge.zero(stop_reasons(reading, CHARGE))
    discharge.zero(stop_reasons(reading, DISCHARGE))

    osc = counteract(
        reading,
        memory.samples,
        memory.counteraction,
        memory.pending,
        state,
        charge.amps,
        discharge.amps,
        config,
    )
    grid = config.oscillation_input == "grid_power"
    for limit, kind, cap in (
        (charge, CHARGE, osc.counteraction.charge_cap_a),
        (discharge, DISCHARGE, osc.counteraction.discharge_cap_a),
    ):
        if cap is not None:
            amps = _floor(cap)
            cause = osc.counteraction.cause
            limit.cap(
                amps,
                f"{kind} {amps:g} A: {cause}"
                if grid and cause
                else f"{kind} reduced to {amps:g} A: oscillation counteraction",
            )

    if config.ramp_a_per_s > 0:
        _ramp(charge, CHARGE, memory, state, config)
        _ramp(discharge, DISCHARGE, memory, state, config)

    volt = charge_voltage(reading, memory.charge_state, now, volts, config)
    charge_a, discharge_a = _floor(charge.amps), _floor(discharge.amps)
    flags = LimitFlag.NONE
    if charge_a > 0:
        flags |= LimitFlag.CHARGE
    if discharge_a > 0:
        flags |= LimitFlag.DISCHARGE
    limits = Limits(
        charge_a,
        discharge_a,
        volt.cvl_v,
        volts.dvl_v,
        flags,
        (*charge.reasons, *discharge.reasons, *osc.notes, *volt.reasons, dvl_why),
        reported_soc_pct=volt.reported_soc_pct,
        charge_state=volt.state if config.charge_states else None,
    )
    new_memory = LadderMemory(
        charge=charge_held,
        discharge=discharge_held,
        charge_temp_blocked=charge_temp.blocked,
        discharge_temp_blocked=discharge_temp.blocked,
        samples=osc.samples,
        counteraction=osc.counteraction,
        pending=osc.pending,
        charge_state=volt.memory,
        last_now_s=now,
        last_output=(charge_a, discharge_a),
        events=(*osc.events, *((volt.event,) if volt.event else ())),
    )
    return limits, new_memory


def _ramp(limit: _Limit, kind: str, memory: LadderMemory, state: GatewayState, config: LadderConfig) -> None:
    """Let a rise climb at ``ramp_a_per_s`` from what the sink was actually given."""
    previous = state.previous
    given = (
        0.0
        if previous is None
        else (previous.charge_current_a if kind == CHARGE else previous.discharge_current_a)
    )
    if limit.amps <= given:
        return
    ours = None if memory.last_output is None else memory.last_output[0 if kind == CHARGE else 1]
    continuing = (
        memory.last_now_s is not None and ours is not None and math.isclose(ours, given, abs_tol=0.05)
    )
    dt = max(0.0, state.now_s - memory.last_now_s) if continuing and memory.last_now_s is not None else 0.0
    ramped = min(limit.amps, given + config.ramp_a_per_s * dt)
    if ramped < limit.amps:
        limit.reasons.append(
            f"{kind} ramping up at {config.ramp_a_per_s:g} A/s: {_floor(ramped):g} A of {limit.amps:g} A"
        )
        limit.amps = ramped


class LadderPolicy:
    """The ``limit_ladder`` policy object: keeps the memory (in a file too), logs changes (one line each).

    One object per pack (``ctx.pack`` names the source; else ``ctx.name``). Without a context (tests,
    ``explain``) nothing is persisted. The memory file is read at the first decision and written,
    off the cycle, whenever the persisted part of the memory changes.
    """

    def __init__(
        self,
        config: LadderConfig,
        ctx: PluginContext | None = None,
        *,
        boot_id: BootIdReader = read_boot_id,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.memory = LadderMemory()
        self._log = ctx.logger if ctx is not None else logging.getLogger("gateway.limit_ladder")
        self._pack = (ctx.pack or ctx.name) if ctx is not None else ""
        self._persist = ctx is not None
        self._environ = os.environ if environ is None else environ
        self._read_boot_id = boot_id
        self._boot_id: str | None = None
        self._saver: Saver | None = None
        self._saved_key: str | None = None
        self._started = False
        self._last: Limits | None = None

    @property
    def state_path(self) -> str | None:
        """The memory file in use, or ``None`` when the memory is not kept."""
        return None if self._saver is None else str(self._saver.file.path)

    def decide(self, reading: BatteryReading, state: GatewayState) -> Limits:
        """Limits for ``reading`` (the core's LimitPolicy protocol)."""
        if not self._started:
            self._start(state.now_s)
        limits, self.memory = decide(reading, self.memory, state, self.config)
        for event in self.memory.events:
            self._log.info("%s", event)
        self._save(state.now_s)
        last = self._last
        if last is None or (last.charge_current_a, last.discharge_current_a) != (
            limits.charge_current_a,
            limits.discharge_current_a,
        ):
            self._log.debug("limits: %s; %s", limits.summary(), "; ".join(limits.reasons))
        self._last = limits
        return limits

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the memory is written (tests, shutdown); True when nothing is left to write."""
        return True if self._saver is None else self._saver.flush(timeout)

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        if self._saver is not None:
            self._saver.close()

    def _start(self, now_s: float) -> None:
        self._started = True
        directory = state_dir(self.config.state_dir, self._environ) if self._persist else None
        if directory is None:
            if self._persist:
                self._log.info(
                    "policy memory is not kept across restarts: no limit_ladder.state_dir and no "
                    "$STATE_DIRECTORY (systemd StateDirectory=)"
                )
            return
        file = StateFile(directory / file_name(self._pack))
        self._saver = Saver(file, self._log)
        self._boot_id = self._read_boot_id()
        if self._boot_id is None:
            self._log.warning(
                "the boot id is unknown (no /proc/sys/kernel/random/boot_id, no $BATTERY_GATEWAY_BOOT_ID): "
                "after every restart the policy memory is restored conservatively, as after a reboot"
            )
        try:
            data = file.read()
            if data is None:
                self._log.info("policy memory: no %s yet; starting fresh", file.path)
                return
            self.memory, how = decode(data, pack=self._pack, boot_id=self._boot_id, now_s=now_s)
        except ValueError as exc:
            self._log.warning("ignoring the policy memory %s: %s; starting fresh", file.path, exc)
            return
        self._saved_key = change_key(self.memory)
        self._log.info("policy memory restored from %s (%s)", file.path, how)

    def _save(self, now_s: float) -> None:
        if self._saver is None:
            return
        key = change_key(self.memory)
        if key != self._saved_key:
            self._saved_key = key
            self._saver.submit(encode(self.memory, pack=self._pack, boot_id=self._boot_id, saved_at_s=now_s))
