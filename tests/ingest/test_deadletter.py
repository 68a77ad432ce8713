"""The dead-letter store keeps exact bytes, reasons and times, lists and deletes them, and survives
reopening."""

import threading

import pytest

from ingest.codecs import Decoder
from ingest.deadletter import DeadLetter, DeadLetterStore

T = 1_763_700_000_000_000_000


def test_records_keep_topic_bytes_reason_time_and_stage(tmp_path):
    payload = b"\xff\x00{not json"
    with DeadLetterStore(tmp_path / "dl.db") as store:
        ids = store.add_many([DeadLetter(T, "faultline/s/a/t", payload, "not JSON"),
                              (T + 1, "", b"m,a=b value=1.0 1", "HTTP 400: type conflict", "write")])
        assert ids == [1, 2]
        first, second = store.get(1), store.get(2)
    assert (first.received_at, first.topic, first.payload, first.reason, first.stage) == \
        (T, "faultline/s/a/t", payload, "not JSON", "decode")
    assert (second.topic, second.stage, second.reason) == ("", "write", "HTTP 400: type conflict")


def test_rejected_messages_from_the_decoder_go_in_as_they_are(tmp_path):
    decoder = Decoder("faultline/{site}/{asset}/{sensor}")
    messages = [("faultline/s/a/t", b'{"value": "x"}', T), ("bad", b"{}", T + 5)]
    _, rejected = decoder.decode_many(messages)
    with DeadLetterStore(tmp_path / "dl.db") as store:
        store.add_many(DeadLetter(messages[r.index][2], r.topic, r.payload, r.reason) for r in rejected)
        listed = store.list()
    assert [(r.received_at, r.topic, r.payload) for r in listed] == [(T, "faultline/s/a/t", b'{"value": "x"}'),
                                                                    (T + 5, "bad", b"{}")]
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
