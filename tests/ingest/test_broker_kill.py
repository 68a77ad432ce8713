"""The shipped config/mosquitto.conf against a broker kill -9 (tests/ingest/broker_kill.py measures more)."""

import re

import pytest

from tests.ingest.broker_kill import ROOT, run_once

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_shipped_mosquitto_config_loses_at_most_one_autosave_interval_on_kill_9():
    conf = ROOT / "config" / "mosquitto.conf"
    interval = int(re.search(r"(?m)^autosave_interval (\d+)", conf.read_text()).group(1))
    assert re.search(r"(?m)^autosave_on_changes true", conf.read_text())
    # the ingester is down while the broker dies: the broker's persistence alone keeps the backlog
    acked, lost, _ = run_once(conf, 2000, 1000, ingester_down=True)
    assert acked == 2000
    assert lost <= interval, f"{lost} acknowledged readings lost, over the autosave interval of {interval} changes"
