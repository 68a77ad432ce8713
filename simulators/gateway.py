"""Misbehaving gateways: offline periods, duplicate and out-of-order delivery, clock skew, malformed payloads.

Two of the faults change what finally sits in the store and so also shape the offline output
(`store_view`): readings taken while the gateway is offline are lost, and a skewed clock shifts
timestamps. The other three only exist on the wire (`GatewayWire`): the store keys readings by
timestamp (a duplicate overwrites), sorts by time (order does not matter) and dead-letters
malformed payloads — which the label records, so tests know what should be missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from faultline.simulators.fleet import Gateway, GatewayFault

__all__ = ["Message", "GatewayWire", "offline_mask", "skew_ns", "corrupt"]

NS = 1_000_000_000


@dataclass(slots=True)
class Message:
    """One MQTT message on its way out.

    ``at_ns`` is the simulated time (since the run's start) it is sent; ``readings`` how many scalar
    readings it carries (a waveform block counts as one); ``format`` one of ``single``, ``batch``, ``waveform``,
    ``gateway``; ``sensors`` the sensors it carries.
    """

    at_ns: int
    topic: str
    payload: bytes
    readings: int
    format: str
    asset: str
    sensors: tuple[str, ...]
    corrupted: bool = False


def _window(fault: GatewayFault, elapsed_ns: np.ndarray) -> np.ndarray:
    start, end = fault.start.total_seconds() * NS, fault.end.total_seconds() * NS
    return (elapsed_ns >= start) & (elapsed_ns < end)


def offline_mask(gateway: Gateway | None, elapsed_ns: np.ndarray) -> np.ndarray:
    """True where the gateway is offline (readings taken then are lost), shape like ``elapsed_ns``."""
    mask = np.zeros(len(elapsed_ns), dtype=bool)
    for fault in gateway.faults if gateway else ():
        if fault.mode == "offline":
            mask |= _window(fault, elapsed_ns)
    return mask


def skew_ns(gateway: Gateway | None, elapsed_ns: np.ndarray) -> np.ndarray:
    """Clock error (ns) the gateway adds to each reading's timestamp, int64 shape like ``elapsed_ns``."""
    skew = np.zeros(len(elapsed_ns), dtype=np.int64)
    for fault in gateway.faults if gateway else ():
        if fault.mode == "clock_skew":
            skew[_window(fault, elapsed_ns)] += int(fault.offset.total_seconds() * NS)
    return skew


# Each breaks the whole message, so every reading it carried is lost (dead-lettered by ingest).
_MALFORMED = (
    lambda p: p[: max(1, len(p) // 2)],  # truncated mid-message
    lambda p: b"{" + p,  # stray byte: not JSON
    lambda p: b"\xff\xfe" + p,  # not UTF-8
    lambda p: b'{"ts": "yesterday", "value": "n/a"}',  # values of the wrong type
)


def corrupt(payload: bytes, rng: np.random.Generator) -> bytes:
    """A payload broken the way real gateways break them (truncated, misspelt key, bad bytes, bad types)."""
    return _MALFORMED[int(rng.integers(len(_MALFORMED)))](payload)


@dataclass
class _Tally:
    messages: int = 0
    readings: int = 0
    corrupted_messages: int = 0  # affected messages that were also corrupted (a duplicated bad one)
    intact_readings: int = 0  # readings in affected messages that were not corrupted
    topics: dict = field(default_factory=dict)

    def add(self, msg: Message) -> None:
        self.messages += 1
        self.readings += msg.readings
        self.corrupted_messages += msg.corrupted
        self.intact_readings += 0 if msg.corrupted else msg.readings
        self.topics[msg.topic] = self.topics.get(msg.topic, 0) + 1


class GatewayWire:
    """Applies a gateway's wire faults to its time-ordered message stream.

    Parameters
    ----------
    gateway : Gateway
        Its fault windows are offsets from the run's start, compared with `Message.at_ns`.
    rng : numpy.random.Generator
        Decides which messages are duplicated, delayed or corrupted.

    After the stream has been consumed, `tally` holds per fault (by index in ``gateway.faults``)
    what was dropped, duplicated, delayed or corrupted.
    """

    def __init__(self, gateway: Gateway, rng: np.random.Generator):
        self.gateway = gateway
        self.rng = rng
        self.tally: dict[int, _Tally] = {i: _Tally() for i in range(len(gateway.faults))}

    def _active(self, mode: str, at_ns: int) -> list[int]:
        return [
            i
            for i, f in enumerate(self.gateway.faults)
            if f.mode == mode and f.start.total_seconds() * NS <= at_ns < f.end.total_seconds() * NS
        ]

    def _duplicate(self, messages: Iterable[Message]) -> Iterator[Message]:
        for msg in messages:
            yield msg
            for i in self._active("duplicate", msg.at_ns):
                if self.rng.random() < self.gateway.faults[i].rate:
                    self.tally[i].add(msg)
                    yield msg
                    break

    def shape(self, messages: Iterable[Message]) -> Iterator[Message]:
        """Corrupt and reorder, then duplicate: the full wire behaviour.

        Offline losses and clock skew are not applied here: they change the readings themselves
        and are applied before messages are built (`offline_mask`, `skew_ns`).
        """
        return self._duplicate(self._reorder(self._corrupt(messages)))

    def _corrupt(self, messages: Iterable[Message]) -> Iterator[Message]:
        for msg in messages:
            for i in self._active("malformed", msg.at_ns):
                if self.rng.random() < self.gateway.faults[i].rate:
                    self.tally[i].add(msg)
                    msg = Message(
                        msg.at_ns,
                        msg.topic,
                        corrupt(msg.payload, self.rng),
                        msg.readings,
                        msg.format,
                        msg.asset,
                        msg.sensors,
                        corrupted=True,
                    )
                    break
            yield msg

    def _reorder(self, messages: Iterable[Message]) -> Iterator[Message]:
        held: list[list] = []  # [messages still to let pass, message]
        for msg in messages:
            delayed = False
            for i in self._active("out_of_order", msg.at_ns):
                if self.rng.random() < self.gateway.faults[i].rate:
                    self.tally[i].add(msg)
                    held.append([self.gateway.faults[i].delay, msg])
                    delayed = True
                    break
            if not delayed:
                yield msg
                for entry in held:
                    entry[0] -= 1
                while held and held[0][0] <= 0:
                    yield held.pop(0)[1]
        for _, msg in held:
            yield msg
