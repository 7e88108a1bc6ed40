"""Inverter profiles: what each inverter family reads of the Pylontech protocol, kept as TOML data.

A profile (``profiles/<name>.toml`` in the package, or a user's own file) states the frames to send
and their order, what may go out before the first valid reading, the 0x35E name, which frames count
as the inverter and how long it may be silent, and the CVL step-down limit. Any key can be
overridden in ``[pylontech]``. Stdlib only (the config validates profile names with it).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

#: Frame token -> (arbitration id, layout variant). ``/8`` and ``/luxpower`` name the variants.
FRAME_TOKENS: Mapping[str, tuple[int, str | None]] = {
    "0x351": (0x351, None),
    "0x355": (0x355, None),
    "0x355/8": (0x355, "8"),
    "0x355/luxpower": (0x355, "luxpower"),
    "0x356": (0x356, None),
    "0x356/8": (0x356, "8"),
    "0x356/luxpower": (0x356, "luxpower"),
    "0x359": (0x359, None),
    "0x359/luxpower": (0x359, "luxpower"),
    "0x35A": (0x35A, None),
    "0x35C": (0x35C, None),
    "0x35C/luxpower": (0x35C, "luxpower"),
    "0x35E": (0x35E, None),
    "0x35F": (0x35F, None),
    **{f"0x{i:03X}": (i, None) for i in range(0x370, 0x378)},
    "0x379": (0x379, None),
}
#: Every profile sends these six (in some variant); they carry the limits and the stop.
BASE_IDS = (0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E)
#: What may go out before the first valid reading: frames that carry no measured value.
BEFORE_READING_ALLOWED = frozenset({"0x351", "0x359", "0x35A", "0x35C", "0x35E"})
#: The keys of a profile file, each also a ``[pylontech]`` key that overrides it.
PROFILE_KEYS = (
    "frames",
    "before_first_reading",
    "manufacturer",
    "peer_ids",
    "peer_extended_ids",
    "peer_silent_after_s",
    "cvl_step_down_v_per_min",
)
MANUFACTURER_LEN = 8
#: A profile file larger than this is refused unread (a profile is a few hundred bytes).
MAX_FILE_BYTES = 65536
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class ProfileError(ValueError):
    """A profile (shipped, a user's file or an override) is not valid; the message is one line."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One inverter family's reading of the protocol, validated."""

    name: str
    description: str
    frames: tuple[str, ...]
    before_first_reading: tuple[str, ...]
    manufacturer: str
    peer_ids: tuple[int, ...]
    peer_extended_ids: bool
    peer_silent_after_s: float
    cvl_step_down_v_per_min: float
    origin: str = "shipped"

    @property
    def variants(self) -> dict[int, str | None]:
        """Frame id -> layout variant of every frame the profile sends."""
        return {FRAME_TOKENS[token][0]: FRAME_TOKENS[token][1] for token in self.frames}

    @property
    def manufacturer_bytes(self) -> bytes:
        """The 0x35E payload: the name padded with spaces to 8 bytes."""
        return self.manufacturer.encode("ascii").ljust(MANUFACTURER_LEN, b" ")


def parse_frame_id(text: str) -> int:
    """An 11-bit id written in hex (``0x305`` or ``305``), ASCII hex digits only. :raises ProfileError:"""
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    if not digits or len(digits) > 3 or not set(digits) <= HEX_DIGITS or int(digits, 16) > 0x7FF:
        raise ProfileError(f"{text!r} is not an 11-bit CAN id (0x000 to 0x7FF)")
    return int(digits, 16)


def normalize_token(text: object) -> str:
    """A frame token in its canonical spelling (``0x35c/LuxPower`` -> ``0x35C/luxpower``)."""
    if not isinstance(text, str):
        raise ProfileError(f"{text!r} is not a frame name such as '0x351' or '0x355/8'")
    head, sep, variant = text.strip().partition("/")
    try:
        token = f"0x{parse_frame_id(head):03X}" + (f"/{variant.lower()}" if sep else "")
    except ProfileError:
        token = text
    if token not in FRAME_TOKENS:
        known = ", ".join(FRAME_TOKENS)
        raise ProfileError(f"{text!r} is not a frame this plugin sends; known: {known}")
    return token


def check_frames(frames: object) -> tuple[str, ...]:
    """A valid frame list: known tokens, each id once, the six base frames present."""
    tokens = _tokens(frames, "frames")
    ids = [FRAME_TOKENS[t][0] for t in tokens]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ProfileError(f"frames: 0x{twice[0]:03X} is listed more than once")
    missing = [f"0x{i:03X}" for i in BASE_IDS if i not in ids]
    if missing:
        raise ProfileError(
            f"frames: the base frames {', '.join(missing)} are missing (every profile sends all six)"
        )
    return tokens


def check_before_first_reading(tokens: object) -> tuple[str, ...]:
    """Frames allowed before the first reading: only those that carry no measured value."""
    checked = _tokens(tokens, "before_first_reading", empty_ok=True)
    refused = [t for t in checked if t not in BEFORE_READING_ALLOWED]
    if refused:
        allowed = ", ".join(sorted(BEFORE_READING_ALLOWED))
        raise ProfileError(
            f"before_first_reading: {refused[0]} carries measured values and cannot be sent before the "
            f"first reading; allowed: {allowed}"
        )
    return checked


def check_manufacturer(name: object) -> str:
    """The 0x35E name: at most 8 printable ASCII characters."""
    if not isinstance(name, str) or len(name) > MANUFACTURER_LEN or not name.isascii():
        raise ProfileError(f"manufacturer = {name!r} must be at most {MANUFACTURER_LEN} ASCII characters")
    if not name.isprintable():
        raise ProfileError(f"manufacturer = {name!r} must be printable ASCII")
    return name


def check_peer_ids(ids: object) -> tuple[int, ...]:
    """Frame ids that count as the inverter (e.g. ``["0x305"]``); never a battery frame."""
    if not isinstance(ids, list | tuple) or not ids:
        raise ProfileError("peer_ids must be a non-empty list of ids such as ['0x305']")
    out = []
    for item in ids:
        if not isinstance(item, str):
            raise ProfileError(f"peer_ids: {item!r} is not an id such as '0x305'")
        value = parse_frame_id(item)
        if value in {i for i, _ in FRAME_TOKENS.values()}:
            raise ProfileError(f"peer_ids: 0x{value:03X} is a battery frame, not the inverter's")
        out.append(value)
    return tuple(out)


def check_number(key: str, value: object, low: float, high: float) -> float:
    """A finite number within ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{key} = {value!r} must be a number")
    if not low <= value <= high:
        raise ProfileError(f"{key} = {value:g} is out of range ({low:g} to {high:g})")
    return float(value)


def parse_profile(name: str, table: Mapping[str, Any], origin: str = "shipped") -> Profile:
    """Validate a profile table (a parsed TOML file). :raises ProfileError: one line."""
    unknown = sorted(set(table) - {"description", *PROFILE_KEYS})
    if unknown:
        raise ProfileError(f"unknown key {unknown[0]!r}; known: description, {', '.join(PROFILE_KEYS)}")
    missing = [key for key in ("description", *PROFILE_KEYS) if key not in table]
    if missing:
        raise ProfileError(f"missing key {missing[0]!r}")
    description = table["description"]
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise ProfileError("description must be one line of text")
    extended = table["peer_extended_ids"]
    if not isinstance(extended, bool):
        raise ProfileError(f"peer_extended_ids = {extended!r} must be true or false")
    profile = Profile(
        name=name,
        description=description.strip(),
        frames=check_frames(table["frames"]),
        before_first_reading=check_before_first_reading(table["before_first_reading"]),
        manufacturer=check_manufacturer(table["manufacturer"]),
        peer_ids=check_peer_ids(table["peer_ids"]),
        peer_extended_ids=extended,
        peer_silent_after_s=check_number("peer_silent_after_s", table["peer_silent_after_s"], 1.0, 3600.0),
        cvl_step_down_v_per_min=check_number(
            "cvl_step_down_v_per_min", table["cvl_step_down_v_per_min"], 0.0, 100.0
        ),
        origin=origin,
    )
    outside = [t for t in profile.before_first_reading if t not in profile.frames]
    if outside:
        raise ProfileError(f"before_first_reading: {outside[0]} is not among the profile's frames")
    return profile


def with_overrides(profile: Profile, overrides: Mapping[str, Any]) -> Profile:
    """``profile`` with ``[pylontech]`` keys replacing its own, validated again as a whole."""
    if not overrides:
        return profile
    table: dict[str, Any] = {key: getattr(profile, key) for key in PROFILE_KEYS}
    table["peer_ids"] = [f"0x{i:03X}" for i in profile.peer_ids]
    table["description"] = profile.description
    for key, value in overrides.items():
        table[key] = list(value) if isinstance(value, tuple) else value
    return replace(
        parse_profile(profile.name, table, profile.origin), origin=f"{profile.origin} + [pylontech]"
    )


def shipped_names() -> tuple[str, ...]:
    """Names of the profiles shipped in the package, sorted."""
    folder = resources.files("pylontech_can").joinpath("profiles")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def load_shipped(name: str) -> Profile:
    """A shipped profile. :raises ProfileError: unknown name, or the file is broken."""
    if name not in shipped_names():
        raise ProfileError(f"unknown profile {name!r}; shipped: {', '.join(shipped_names())}")
    text = resources.files("pylontech_can").joinpath("profiles", f"{name}.toml").read_text(encoding="utf-8")
    try:
        return parse_profile(name, tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ProfileError) as exc:
        raise ProfileError(f"shipped profile {name!r}: {exc}") from None


def load_file(path: Path) -> Profile:
    """A user's profile file, validated like the shipped ones. :raises ProfileError: one line."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProfileError(f"{path}: larger than {MAX_FILE_BYTES} bytes: not a profile")
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_profile(path.stem, table, str(path))
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def resolve(config: Any) -> Profile:
    """The effective profile of a ``[pylontech]`` section: its profile or file, then its overrides."""
    base = load_file(Path(config.profile_file)) if config.profile_file else load_shipped(config.profile)
    overrides = {key: getattr(config, key) for key in PROFILE_KEYS if getattr(config, key) is not None}
    return with_overrides(base, overrides)


def render(profile: Profile) -> list[str]:
    """The effective settings as TOML lines (``gateway pylontech profile show``)."""
    quoted = ", ".join
    return [
        f"# profile {profile.name} ({profile.origin})",
        f"description = {_q(profile.description)}",
        f"frames = [{quoted(_q(t) for t in profile.frames)}]",
        f"before_first_reading = [{quoted(_q(t) for t in profile.before_first_reading)}]",
        f"manufacturer = {_q(profile.manufacturer)}",
        f"peer_ids = [{quoted(_q(f'0x{i:03X}') for i in profile.peer_ids)}]",
        f"peer_extended_ids = {str(profile.peer_extended_ids).lower()}",
        f"peer_silent_after_s = {profile.peer_silent_after_s:g}",
        f"cvl_step_down_v_per_min = {profile.cvl_step_down_v_per_min:g}",
    ]


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tokens(value: object, key: str, *, empty_ok: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or (not value and not empty_ok):
        raise ProfileError(f"{key} must be a list of frame names such as ['0x351', '0x355']")
    try:
        return tuple(normalize_token(item) for item in value)
    except ProfileError as exc:
        raise ProfileError(f"{key}: {exc}") from None
