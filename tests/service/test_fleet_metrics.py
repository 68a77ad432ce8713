"""The fleet-overview dashboard's own metrics: streams seen, and the anomaly score per asset."""

from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import T0, batch


def samples(api) -> dict[tuple[str, tuple], float]:
    text = api.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_streams_and_the_largest_score_of_each_assets_latest_batch(api):
    api.ingest(batch("P-1", "bearing_temp", T0, [60, 61, 95, 96, 62]))  # the static limit is 90
    api.ingest(batch("P-2", "bearing_temp", T0, [60, 61, 62]))
    api.ingest(batch("P-2", "motor_current", T0, [10, 11]))  # no check on it: score 0
    seen = samples(api)
    assert seen[("faultline_streams", ())] == 3
    hot = seen[("faultline_anomaly_score", (("asset", "P-1"),))]
    cool = seen[("faultline_anomaly_score", (("asset", "P-2"),))]
    assert hot >= 1.0 > cool, (hot, cool)

    api.ingest(batch("P-1", "bearing_temp", T0 + 600, [60, 61]))  # the latest batch is healthy again
    assert samples(api)[("faultline_anomaly_score", (("asset", "P-1"),))] < 1.0
