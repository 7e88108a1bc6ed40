"""Serve a simulated JK BMS on a pseudo-terminal: the core's generic :class:`PtyServer`."""

from gateway_core.ptysim import POLL_S, PtyServer

__all__ = ["POLL_S", "PtyServer"]
