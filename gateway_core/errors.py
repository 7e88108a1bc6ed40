"""The gateway's exceptions, split by phase.

::

    GatewayError
    +-- StartupError        refused at start: one line on stderr, exit code 2
    |   +-- ConfigError     bad file, unknown section or key, wrong type, out of range
    |   +-- PluginError     unknown plugin name, duplicate name, plugin failed to load
    +-- CycleError          one cycle fails safe (stop limits), the loop goes on
        +-- PolicyError     the policy could not decide
        +-- SourceError     no reading this cycle
        |   +-- FrameError          corrupt or unparseable reply
        |   |   +-- ImplausibleReply    framing and checksum valid, content impossible: stop at once
        |   +-- SourceTimeout       no complete reply within the deadline
        |   +-- SourceUnavailable   the link is gone: close, reopen with backoff
        +-- SinkError       nothing published this cycle: close, reopen with backoff
            +-- SinkUnavailable     the link is gone
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


class StartupError(GatewayError):
    """The gateway cannot start; the CLI prints the message and exits with code 2."""


class ConfigError(StartupError):
    """A configuration file or override is invalid."""


class PluginError(StartupError):
    """A plugin is unknown, duplicated or failed to load."""


class CycleError(GatewayError):
    """One cycle failed; the engine publishes stop limits and goes on."""


class PolicyError(CycleError):
    """The limit policy could not decide."""


class SourceError(CycleError):
    """The BMS source has no reading for this cycle."""


class FrameError(SourceError):
    """A reply from the BMS was corrupt or could not be decoded."""


class ImplausibleReply(FrameError):
    """A reply whose framing and checksum are valid but whose content cannot be (SOC 255 %, a cell
    count that contradicts the cells, an unknown protocol version): the engine treats it as an
    implausible reading and publishes stop limits at once, instead of keeping the last good reading.
    """


class SourceTimeout(SourceError):
    """No complete reply arrived before the deadline."""


class SourceUnavailable(SourceError):
    """The link to the BMS is gone (port missing, adapter unplugged)."""


class SinkError(CycleError):
    """The inverter sink could not publish this cycle."""


class SinkUnavailable(SinkError):
    """The link to the inverter is gone (bus down, adapter unplugged)."""
