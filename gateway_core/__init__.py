"""battery-gateway core: hookspecs, data model, config, engine and CLI.

Plugins import from here::

    from gateway_core import hookimpl, BatteryReading, Limits, setting
"""

from .errors import (
    ConfigError,
    CycleError,
    FrameError,
    GatewayError,
    PluginError,
    PolicyError,
    SinkError,
    SinkUnavailable,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
    StartupError,
)
from .hookspecs import hookimpl
from .model import (
    Alarm,
    BatteryReading,
    CycleResult,
    Fault,
    GatewayState,
    LimitFlag,
    Limits,
    Problem,
    PublishReport,
)
from .roles import BmsSource, CycleObserver, InverterSink, LimitPolicy, PluginContext, Register
from .settings import NoConfig, setting

__all__ = [
    "Alarm",
    "BatteryReading",
    "BmsSource",
    "ConfigError",
    "CycleError",
    "CycleObserver",
    "CycleResult",
    "Fault",
    "FrameError",
    "GatewayError",
    "GatewayState",
    "InverterSink",
    "LimitFlag",
    "LimitPolicy",
    "Limits",
    "NoConfig",
    "PluginContext",
    "PluginError",
    "PolicyError",
    "Problem",
    "PublishReport",
    "Register",
    "SinkError",
    "SinkUnavailable",
    "SourceError",
    "SourceTimeout",
    "SourceUnavailable",
    "StartupError",
    "hookimpl",
    "setting",
]
