"""Home Assistant MQTT discovery: the battery's device and, for a bank, one device per pack (pure).

Each entity is a retained config message on ``<prefix>/<component>/<node_id>/<key>/config`` that
reads its value from the state message with a ``value_template``. A pack's device is linked to the
bank's with ``via_device``; its node id is the bank's plus the pack's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import sanitise_id
from .entities import entities, pack_entities
from .state import Shape


@dataclass(frozen=True, slots=True)
class DiscoveryContext:
    """Where the entities live and what the device is called."""

    prefix: str
    node_id: str
    base_topic: str
    device_name: str
    sw_version: str = ""
    expire_after_s: int = 0
    commands: bool = False

    @property
    def state_topic(self) -> str:
        """The retained JSON state."""
        return f"{self.base_topic}/state"

    @property
    def availability_topic(self) -> str:
        """``online`` / ``offline`` (retained; ``offline`` is also the last will)."""
        return f"{self.base_topic}/availability"

    @property
    def command_topic(self) -> str:
        """Where the charge limit override command is accepted (when enabled)."""
        return f"{self.base_topic}/command/charge_limit"


def pack_node_ids(node_id: str, packs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """``{pack name: node id}``: the bank's node id plus the sanitised name, made unique."""
    ids: dict[str, str] = {}
    for index, (name, _plugin) in enumerate(packs, start=1):
        candidate = f"{node_id}_{sanitise_id(name)}"
        ids[name] = candidate if candidate not in ids.values() else f"{candidate}_{index}"
    return ids


def _config(
    ctx: DiscoveryContext, device: dict[str, Any], node: str, component: str, key: str, config: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    payload = {
        **config,
        "unique_id": f"{node}_{key}",
        "state_topic": ctx.state_topic,
        "availability_topic": ctx.availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
        "origin": {"name": "battery-gateway", **({"sw_version": ctx.sw_version} if ctx.sw_version else {})},
    }
    if ctx.expire_after_s > 0:
        payload["expire_after"] = ctx.expire_after_s
    return f"{ctx.prefix}/{component}/{node}/{key}/config", payload


def discovery_messages(ctx: DiscoveryContext, shape: Shape) -> dict[str, dict[str, Any]]:
    """``{config topic: payload}`` for every entity of ``shape``: the battery's device, and one
    device per pack of a bank (linked to the battery's with ``via_device``)."""
    version = {"sw_version": ctx.sw_version} if ctx.sw_version else {}
    device = {
        "identifiers": [ctx.node_id],
        "name": ctx.device_name,
        "manufacturer": "battery-gateway",
        "model": shape.model or "battery-gateway",
        **version,
    }
    messages: dict[str, dict[str, Any]] = {}
    for component, key, config in entities(shape, commands=ctx.commands):
        topic, payload = _config(ctx, device, ctx.node_id, component, key, config)
        messages[topic] = payload
    nodes = pack_node_ids(ctx.node_id, shape.packs)
    for name, plugin in shape.packs:
        pack_device = {
            "identifiers": [nodes[name]],
            "name": f"{ctx.device_name} {name}",
            "manufacturer": "battery-gateway",
            "model": plugin or "battery-gateway",
            "via_device": ctx.node_id,
            **version,
        }
        for component, key, config in pack_entities(name):
            topic, payload = _config(ctx, pack_device, nodes[name], component, key, config)
            messages[topic] = payload
    return messages
