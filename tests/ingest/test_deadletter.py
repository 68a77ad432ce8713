"""The dead-letter store keeps exact bytes, reasons and times, lists and deletes them, and survives
reopening."""

import threading

import pytest

from faultline.ingest.codecs import Decoder
from faultline.ingest.deadletter import DeadLetter, DeadLetterStore

T = 1_763_700_000_000_000_000


def test_records_keep_topic_bytes_reason_time_and_stage(tmp_path):
    payload = b"\xff\x00{not json"
    with DeadLetterStore(tmp_path / "dl.db") as store:
        ids = store.add_many(
            [
                DeadLetter(T, "faultline/s/a/t", payload, "not JSON"),
                (T + 1, "", b"m,a=b value=1.0 1", "HTTP 400: type conflict", "write"),
            ]
        )
        assert ids == [1, 2]
        first, second = store.get(1), store.get(2)
    assert (first.received_at, first.topic, first.payload, first.reason, first.stage) == (
        T,
        "faultline/s/a/t",
        payload,
        "not JSON",
        "decode",
    )
    assert (second.topic, second.stage, second.reason) == ("", "write", "HTTP 400: type conflict")


def test_rejected_messages_from_the_decoder_go_in_as_they_are(tmp_path):
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    messages = [("faultline/s/a/t", b'{"value": "x"}', T), ("bad", b"{}", T + 5)]
    _, rejected = decoder.decode_many(messages)
    with DeadLetterStore(tmp_path / "dl.db") as store:
        store.add_many(DeadLetter(messages[r.index][2], r.topic, r.payload, r.reason) for r in rejected)
        listed = store.list()
    assert [(r.received_at, r.topic, r.payload) for r in listed] == [
        (T, "faultline/s/a/t", b'{"value": "x"}'),
        (T + 5, "bad", b"{}"),
    ]
    assert "expected a number" in listed[0].reason and "topic 'bad'" in listed[1].reason


def test_list_pages_filters_and_deletes(tmp_path):
    with DeadLetterStore(tmp_path / "dl.db") as store:
        store.add_many((T + n, f"t{n}", b"x", "r", "decode" if n % 2 else "write") for n in range(10))
        assert store.count() == 10 and store.count("write") == 5
        assert [r.topic for r in store.list(limit=3, offset=2)] == ["t2", "t3", "t4"]
        assert [r.topic for r in store.list(since=T + 7)] == ["t7", "t8", "t9"]
        assert [r.topic for r in store.list(stage="decode", since=T + 5)] == ["t5", "t7", "t9"]
        assert store.delete([1, 2, 99]) == 2
        assert store.count() == 8 and store.get(1) is None
        assert store.delete_before(T + 5) == 3
        assert [r.topic for r in store.list()] == ["t5", "t6", "t7", "t8", "t9"]


def test_survives_reopening(tmp_path):
    with DeadLetterStore(tmp_path / "dl.db") as store:
        store.add_many([(T, "t", b"p", "r")])
    with DeadLetterStore(tmp_path / "dl.db") as store:
        assert store.count() == 1 and store.get(1).payload == b"p"


def test_a_bad_stage_stores_nothing(tmp_path):
    with DeadLetterStore(tmp_path / "dl.db") as store:
        with pytest.raises(ValueError, match="stage 'later'"):
            store.add_many([(T, "t", b"p", "r"), (T, "t", b"p", "r", "later")])
        assert store.count() == 0 and store.add_many([]) == []


def test_one_writer_thread_and_readers_in_others(tmp_path):
    with DeadLetterStore(tmp_path / "dl.db") as store:

        def write():
            for n in range(50):
                store.add_many([(T + n, "t", b"p", "r")])

        writer = threading.Thread(target=write)
        writer.start()
        counts = []
        while writer.is_alive():
            counts.append(store.count())
        writer.join()
        assert store.count() == 50 and counts == sorted(counts)


def test_retention_by_size_deletes_the_oldest_and_tells_why(tmp_path):
    expired = []
    store = DeadLetterStore(tmp_path / "dl.sqlite", max_bytes=10_000, clock=lambda: 2_000_000_000_000_000_000)
    store.on_expired = lambda why, n: expired.append((why, n))
    for i in range(30):
        store.add_many([DeadLetter(1_900_000_000_000_000_000 + i, "t", bytes(1000), "r")])  # 1,002 bytes each
        assert store.stored_bytes <= 10_000
    kept = store.list(limit=100)
    assert [r.received_at % 1000 for r in kept] == list(range(30 - len(kept), 30))  # the newest kept
    assert 8 <= len(kept) <= 9 and sum(n for _, n in expired) == 30 - len(kept)
    assert {why for why, _ in expired} == {"size"}
    store.close()
    reopened = DeadLetterStore(tmp_path / "dl.sqlite", max_bytes=10_000)
    assert reopened.stored_bytes == len(kept) * 1002  # counted again from the file
    reopened.close()


def test_retention_by_age(tmp_path):
    now = [1_900_000_000_000_000_000]
    store = DeadLetterStore(tmp_path / "dl.sqlite", max_age_s=3600, clock=lambda: now[0])
    store.add_many([DeadLetter(now[0] - 7200 * 10**9, "old", b"x", "r"), DeadLetter(now[0], "new", b"x", "r")])
    assert [r.topic for r in store.list()] == ["new"]
    now[0] += 7200 * 10**9
    store.add_many([DeadLetter(now[0], "newer", b"x", "r")])
    assert [r.topic for r in store.list()] == ["newer"]
    assert store.stored_bytes == len("newer") + 1 + 1
    store.close()
