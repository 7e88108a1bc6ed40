"""``gateway jk_pb scan``: ask every address 1-15 for cell info and report who answers."""

from __future__ import annotations

import logging
from typing import Any

from gateway_core.clock import MonotonicClock
from gateway_core.errors import ImplausibleReply, SourceError

from .config import JkPbConfig
from .decode import decode_cell_info_auto
from .exchange import poll
from .records import CELL_INFO
from .stream import StreamParser

ADDRESSES = range(1, 16)


def scan_line(config: JkPbConfig, log: logging.Logger) -> list[dict[str, Any]]:
    """One row per address that answers: ``address``, ``cells``, ``voltage_v``, ``soc_pct``, ``summary``.

    :raises SourceError: the port cannot be opened; a broken port raises what pyserial raises.
    """
    from .source import JkPbSource

    clock = MonotonicClock()
    found: list[dict[str, Any]] = []
    opener = JkPbSource(config, _context(log, clock))
    port = opener._open_port()
    parser = StreamParser()
    try:
        answered_at: float | None = None
        for address in ADDRESSES:
            if answered_at is not None:  # the gap follows an answer; a silent address left the line idle
                clock.sleep(config.bus_gap_s - (clock.now() - answered_at))
                answered_at = None
            where = f"{config.port}, address {address}"
            try:
                reply = poll(
                    port, address=address, frame_type=CELL_INFO, clock=clock, timeout_s=config.timeout,
                    baud=config.baudrate, parser=parser, where=where,
                )  # fmt: skip
            except SourceError as exc:
                log.debug("%s: %s", where, exc)
                continue
            answered_at = clock.now()
            try:
                info = decode_cell_info_auto(reply.record)
            except ImplausibleReply as exc:
                found.append(
                    {"address": address, "summary": f"answers, but its record is implausible: {exc}"}
                )
                continue
            found.append(
                {
                    "address": address, "cells": info.cell_count, "voltage_v": info.voltage_v,
                    "soc_pct": info.soc_pct, "layout": info.layout,
                    "summary": f"{info.cell_count} cells ({info.layout}), {info.voltage_v:.2f} V, "
                    f"SOC {info.soc_pct} %",
                }
            )  # fmt: skip
    finally:
        port.close()
    return found


def _context(log: logging.Logger, clock: MonotonicClock) -> Any:
    from gateway_core.roles import PluginContext

    return PluginContext("jk_pb", clock, log, plugin="jk_pb")
