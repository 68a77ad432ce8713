"""Simulator throughput: generation against a per-sample Python loop, files, and MQTT publishing.

    .venv/bin/python -m bench.bench_simulator [--assets 50] [--days 7] [--period 1s] [--publish-minutes 20]

Three measurements, each with its baseline in the same run:

1. **Generation, one asset.** A straightforward per-sample Python loop (``math`` and ``random``,
   one sample at a time: regime, fault severity, components, thermal lag, noise; each waveform
   sample as a sum of orders plus impacts through the resonator recurrence) against
   ``simulate_offline`` for the same asset, span and sample rates. Same model, not the same random
   numbers. Prints scalar readings/s, waveform samples/s and the ratio of the times.
2. **A simulated week of N assets to files** (``write_fleet``, Parquet and CSV, waveforms included):
   wall time and readings/s. The issue's target is under a minute for 50 assets. The baseline is
   the per-sample loop's rate from (1), extrapolated to the same work.
3. **Publishing** to a Mosquitto started on a free port via tests/servers.py, as fast as the broker
   acknowledges (``--speed 0``): messages/s and readings/s for single readings and for 60-reading
   batches, against a baseline that publishes the same single-reading messages one at a time,
   waiting for each PUBACK (``wait_for_publish``) instead of keeping a window in flight.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import tempfile
import time
from datetime import timedelta

import yaml

from faultline.vocabulary import parse_duration
from faultline.simulators import Fleet, simulate_offline
from faultline.simulators.output import write_fleet
from faultline.simulators.physics import ISO_20816_ZONES, ORDERS, TYPE_PHYSICS
from faultline.simulators.run import DEFAULT_START

PUMP = {
    "id": "P-1",
    "site": "plant",
    "type": "centrifugal_pump",
    "running_speed_hz": 24.6,
    "iso_group": 2,
    "criticality": "A",
    "rated_current_a": 62,
    "bearing": {"n_balls": 9, "ball_diameter_mm": 12.7, "pitch_diameter_mm": 58.5, "contact_angle_deg": 0},
    "faults": [{"mode": "bearing_outer_race", "onset": "6h", "failure": "2d", "growth": "exponential"}],
}


def baseline_loop(fleet: Fleet, seconds: float, period_s: float, seed: int) -> tuple[int, int]:
    """The same model one sample at a time; returns (scalar readings, waveform samples) produced."""
    asset, wave = fleet.assets[0], fleet.waveform
    kind = TYPE_PHYSICS[asset.type]
    rng = random.Random(seed)
    zone_ab, _, zone_cd = ISO_20816_ZONES[(asset.iso_group, asset.foundation)]
    base = 0.6 * zone_ab
    fault = asset.faults[0]
    onset, life = fault.onset.total_seconds(), (fault.failure - fault.onset).total_seconds()
    alpha = -math.expm1(-period_s / kind["thermal_tau_s"])
    dwell, levels = asset.duty.mean_dwell.total_seconds(), asset.duty.load_levels
    bpfo = asset.defect_frequencies()["bpfo"]
    theta = 2 * math.pi * kind["resonance_hz"] / wave.rate_hz
    r = math.exp(-0.05 * theta)
    a1, a2, b0 = 2 * r * math.cos(theta), -r * r, math.sin(theta)
    every = wave.every.total_seconds()
    load, next_change, temp = levels[0], 0.0, None
    scalars = samples = 0
    t = 0.0
    rows = []
    while t < seconds:
        if t >= next_change:
            load = rng.choice(levels)
            next_change = t + rng.expovariate(1 / dwell)
        x = min(max((t - onset) / life, 0.0), 1.0)
        s = math.expm1(fault.rate * x) / math.expm1(fault.rate)
        flow = 0.6 + 0.4 * load
        orders = [base * {1.0: 0.65, 2.0: 0.35, 3.0: 0.2, 4.0: 0.08}.get(o, 0.03 if o > 0.5 else 0.0) for o in ORDERS]
        broadband = math.hypot(base * 0.55 * flow, zone_cd * 0.8 * s**3)
        vib = math.sqrt(sum(v * v for v in orders) + (base * 0.3 * flow) ** 2 + broadband**2)
        steady = 22.0 + kind["temp_rise_c"] * (0.25 + 0.75 * load * load) + 12.0 * min(max((s - 0.5) / 0.5, 0), 1) ** 2
        temp = steady if temp is None else temp + alpha * (steady - temp)
        current = asset.rated_current_a * (kind["no_load_current"] + (1 - kind["no_load_current"]) * load)
        rows.append(
            (
                round(vib * (1 + 0.03 * rng.gauss(0, 1)), 3),
                round(temp + 0.1 * rng.gauss(0, 1), 2),
                round(current + 0.005 * asset.rated_current_a * rng.gauss(0, 1), 2),
            )
        )
        scalars += 3
        if t % every < period_s:  # capture a waveform block
            y1 = y2 = 0.0
            next_impact = rng.uniform(0, 1 / bpfo)
            phases = [rng.uniform(0, 2 * math.pi) for _ in ORDERS]
            for i in range(wave.samples):
                ti = i / wave.rate_hz
                value = sum(
                    math.sqrt(2)
                    * v
                    / 1000
                    * 2
                    * math.pi
                    * o
                    * asset.running_speed_hz
                    * math.sin(2 * math.pi * o * asset.running_speed_hz * ti + ph)
                    for o, v, ph in zip(ORDERS, orders, phases)
                )
                excitation = 0.25 * rng.gauss(0, 1)
                if ti >= next_impact:
                    excitation += 60.0 * s * (1 + 0.1 * rng.gauss(0, 1))
                    next_impact += (1 + 0.01 * rng.gauss(0, 1)) / bpfo
                y = b0 * excitation + a1 * y1 + a2 * y2
                y2, y1 = y1, y
                rows.append(value + y + 0.02 * rng.gauss(0, 1))
            samples += wave.samples
        t += period_s
    return scalars, samples


def _count(run) -> tuple[int, int]:
    scalars = sum(len(v) for _, v in run.scalars.values())
    samples = sum(blocks.size for _, _, blocks in run.waveforms.values())
    return scalars, samples


def bench_generation(period: timedelta, hours: float) -> float:
    fleet = Fleet.from_dict({"scalar_period": f"{period.total_seconds()}s", "assets": [PUMP]})
    span = timedelta(hours=hours)
    t0 = time.perf_counter()
    base_scalars, base_samples = baseline_loop(fleet, span.total_seconds(), period.total_seconds(), 1)
    base_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = simulate_offline(fleet, seed=1, start=DEFAULT_START, duration=span)
    ours_s = time.perf_counter() - t0
    scalars, samples = _count(run)
    print(
        f"\n1. generation, one pump, {hours:g} h at {period.total_seconds():g} s, "
        f"waveform {fleet.waveform.samples} samples at {fleet.waveform.rate_hz:g} Hz every {fleet.waveform.every}"
    )
    print(
        f"   baseline per-sample loop: {base_s:8.2f} s  {base_scalars / base_s:12,.0f} readings/s "
        f"{base_samples / base_s:14,.0f} waveform samples/s"
    )
    print(
        f"   simulate_offline:         {ours_s:8.2f} s  {scalars / ours_s:12,.0f} readings/s "
        f"{samples / ours_s:14,.0f} waveform samples/s"
    )
    print(f"   ratio (baseline time / ours): {base_s / ours_s:.1f}x")
    return (base_scalars + base_samples) / base_s


def _fleet_of(n: int, period: timedelta) -> Fleet:
    """``n`` assets cycling through the sample fleet's (faults and all), without gateways."""
    sample = yaml.safe_load(open("config/fleet.yaml"))
    assets = []
    for i in range(n):
        asset = dict(sample["assets"][i % len(sample["assets"])])
        asset.pop("gateway", None)
        asset.update(id=f"{asset['id']}-{i:03d}", payload="single")
        assets.append(asset)
    data = {k: v for k, v in sample.items() if k not in ("gateways", "assets")}
    data.update(assets=assets, scalar_period=f"{period.total_seconds()}s")
    return Fleet.from_dict(data)


def bench_files(n_assets: int, days: float, period: timedelta, baseline_rate: float) -> None:
    fleet = _fleet_of(n_assets, period)
    span = timedelta(days=days)
    print(
        f"\n2. a simulated {days:g} days of {n_assets} assets at {period.total_seconds():g} s, waveforms every "
        f"{fleet.waveform.every}, to files"
    )
    for fmt in ("parquet", "csv"):
        out = tempfile.mkdtemp(prefix="faultline-bench-sim-")
        try:
            t0, cpu0 = time.perf_counter(), time.process_time()
            files, labels, rows = write_fleet(fleet, out, 1, DEFAULT_START, span, fmt)
            took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            size = sum(f.stat().st_size for f in files)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        readings = rows * 3  # a few assets have a 4th sensor; counted conservatively
        samples = n_assets * int(span / fleet.waveform.every) * fleet.waveform.samples
        print(
            f"   {fmt:8s} {took:7.1f} s  {readings / took:12,.0f} readings/s + {samples / took:12,.0f} waveform "
            f"samples/s  ({len(files)} files, {size / 1e6:,.0f} MB; {cpu:.1f} s of CPU: the machine is shared)"
        )
        print(
            f"            the per-sample loop would take about {(readings + samples) / baseline_rate / 60:,.0f} min "
            f"for the same values"
        )


def bench_publish(minutes: float) -> None:
    import paho.mqtt.client as mqtt

    from faultline.simulators.payloads import asset_messages
    from faultline.simulators.publish import MqttPublisher, PublishReport, publish_messages
    from tests.servers import Mosquitto

    def fleet(payload: str) -> Fleet:
        assets = [
            dict(
                PUMP,
                id=f"P-{i}",
                payload=payload,
                batch_size=60,
                sensors=["vibration_rms", "bearing_temp", "motor_current"],
            )
            for i in range(4)
        ]
        return Fleet.from_dict({"scalar_period": "1s", "assets": assets})

    span = timedelta(minutes=minutes)
    print(f"\n3. publishing {minutes:g} simulated minutes of 4 pumps at 1 s (QoS 1) to Mosquitto, --speed 0")
    with Mosquitto() as broker:
        runs = {p: simulate_offline(fleet(p), seed=1, start=DEFAULT_START, duration=span) for p in ("single", "batch")}
        # baseline: the same single-reading messages, one PUBACK awaited at a time
        messages = [m for t in runs["single"].tables.values() for m in asset_messages(runs["single"].fleet, t)]
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        t0 = time.perf_counter()
        for m in messages:
            client.publish(m.topic, m.payload, qos=1).wait_for_publish(30)
        base_s = time.perf_counter() - t0
        client.loop_stop()
        client.disconnect()
        print(
            f"   baseline, one at a time: {len(messages) / base_s:10,.0f} messages/s {len(messages) / base_s:10,.0f} readings/s"
        )
        rates = {}
        for payload, run in runs.items():
            report = PublishReport()
            with MqttPublisher(broker.url, window=100) as publisher:
                t0 = time.perf_counter()
                for table in run.tables.values():
                    publish_messages(asset_messages(run.fleet, table), publisher, 0, report)
                publisher.flush()
                took = time.perf_counter() - t0
            rates[payload] = report.total_messages / took
            print(
                f"   ours, {payload:6s} window 100: {report.total_messages / took:10,.0f} messages/s "
                f"{report.total_readings / took:10,.0f} readings/s"
            )
        print(f"   ratio (single, ours / baseline): {rates['single'] / (len(messages) / base_s):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--period", default="1s", help="scalar sample period of the file run")
    parser.add_argument("--baseline-hours", type=float, default=6)
    parser.add_argument("--publish-minutes", type=float, default=20)
    args = parser.parse_args()
    period = parse_duration(args.period)
    rate = bench_generation(period, args.baseline_hours)
    bench_files(args.assets, args.days, period, rate)
    if args.publish_minutes > 0:
        bench_publish(args.publish_minutes)


if __name__ == "__main__":
    main()
