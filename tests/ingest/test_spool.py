"""The spool keeps every appended batch until confirmed, survives a torn tail, and respects its budget."""

import os
import threading

import numpy as np
import pytest

from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.spool import Spool, SpoolFull, decode_readings, encode_readings


def batch(start: int, n: int = 10, sensor: str = "bearing_temp") -> Readings:
    key = SeriesKey.of("telemetry", {"site": "s1", "asset": "pump 1", "sensor": sensor})
    ts = np.arange(start, start + n, dtype=np.int64) * 1_000_000
    return Readings.single_series(key, ts, ts.astype(np.float64) / 7)


def drain(spool: Spool, confirm: bool = True) -> Readings:
    got = []
    while (b := spool.read(max_rows=25)) is not None:
        got.append(b.readings)
        if confirm:
            spool.confirm(b.end, b.records)
    return Readings.concat(got)


def assert_same(a: Readings, b: Readings):
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.ts, b.ts)
    np.testing.assert_array_equal(a.value, b.value)
    assert [a.series[i] for i in a.index] == [b.series[i] for i in b.index]


def test_encoding_round_trips_columns_and_keys():
    r = Readings.concat([batch(0, 3), batch(3, 2, sensor='vibration_rms, x="1"')])
    back = decode_readings(encode_readings(r))
    assert_same(back, r)
    assert back.ts.dtype == np.int64 and back.index.dtype == np.int32


def test_read_returns_appended_batches_in_order_joined(tmp_path):
    with Spool(tmp_path) as spool:
        for i in range(10):
            spool.append(batch(i * 10))
        assert spool.pending_records == 10
        got = drain(spool)
    assert_same(got, Readings.concat([batch(i * 10) for i in range(10)]))


def test_restart_replays_only_what_was_not_confirmed(tmp_path):
    spool = Spool(tmp_path)
    for i in range(6):
        spool.append(batch(i * 10))
    first = spool.read(max_rows=20)  # two records
    assert first.records == 2
    spool.confirm(first.end, first.records)
    spool.read(max_rows=20)  # read but never confirmed: must come back
    spool.close()

    with Spool(tmp_path) as again:
        assert again.pending_records == 4
        assert_same(drain(again), Readings.concat([batch(i * 10) for i in range(2, 6)]))
    with Spool(tmp_path) as third:
        assert third.pending_records == 0 and third.read() is None


@pytest.mark.parametrize("cut", [1, 5, 8, 40])
def test_torn_tail_is_truncated_and_earlier_records_survive(tmp_path, cut):
    with Spool(tmp_path) as spool:
        spool.append(batch(0))
        end_of_good = spool.append(batch(10))
        spool.append(batch(20))
    segment = next(tmp_path.glob("*.seg"))
    size = segment.stat().st_size
    # a crash in the middle of the last write: only the first bytes of the record reached the disk
    with open(segment, "r+b") as f:
        f.truncate(end_of_good + cut)
    with Spool(tmp_path) as spool:
        assert segment.stat().st_size == end_of_good
        assert spool.pending_records == 2
        assert_same(drain(spool), Readings.concat([batch(0), batch(10)]))
        spool.append(batch(30))  # appending after recovery continues cleanly
    with Spool(tmp_path) as spool:
        assert_same(drain(spool), batch(30))
    assert size > end_of_good


def test_flipped_byte_in_tail_record_is_detected_by_crc(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append(batch(0))
        good = spool.append(batch(10))
        spool.append(batch(20))
    segment = next(tmp_path.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[good + 30] ^= 0xFF
    segment.write_bytes(bytes(data))
    with Spool(tmp_path) as spool:
        assert_same(drain(spool), Readings.concat([batch(0), batch(10)]))


def test_budget_refuses_without_writing_and_frees_after_confirm(tmp_path):
    record = len(encode_readings(batch(0))) + 8
    with Spool(tmp_path, max_bytes=record * 40, segment_bytes=record * 4) as spool:
        appended = 0
        with pytest.raises(SpoolFull):
            for i in range(100):
                spool.append(batch(i * 10))
                appended += 1
        assert spool.disk_bytes <= spool.max_bytes
        assert spool.pending_records == appended
        segments_before = len(list(tmp_path.glob("*.seg")))
        got = drain(spool)
        assert len(got) == appended * 10
        # confirmed, sealed segments are deleted; at most the active one remains
        assert len(list(tmp_path.glob("*.seg"))) < segments_before
        assert spool.disk_bytes <= spool.segment_bytes + record
        spool.append(batch(5000))  # room again
        assert_same(drain(spool), batch(5000))


def test_checkpoint_survives_and_damaged_checkpoint_replays_all(tmp_path):
    with Spool(tmp_path, segment_bytes=4096, max_bytes=1 << 20) as spool:
        for i in range(40):
            spool.append(batch(i * 10))
        b = spool.read(max_rows=300)
        spool.confirm(b.end, b.records)
        confirmed = spool.confirmed
        assert int(min(tmp_path.glob("*.seg")).stem) > 0  # the first segments are gone
    with Spool(tmp_path) as spool:
        assert spool.confirmed == confirmed
    (tmp_path / "checkpoint").write_bytes(b"\x00" * 12)
    with Spool(tmp_path) as spool:
        assert spool.confirmed <= confirmed  # never skips: replays from the oldest segment kept
        assert 100 <= len(drain(spool)) < 400


def test_reader_and_appender_threads_together_lose_nothing(tmp_path):
    n = 300
    with Spool(tmp_path, segment_bytes=8192, max_bytes=1 << 24, fsync=False) as spool:

        def produce():
            for i in range(n):
                spool.append(batch(i * 10))

        t = threading.Thread(target=produce)
        t.start()
        got = []
        while t.is_alive() or spool.pending_records:
            b = spool.read(max_rows=100)
            if b:
                got.append(b.readings)
                spool.confirm(b.end, b.records)
        t.join()
        all_ts = np.concatenate([r.ts for r in got])
    np.testing.assert_array_equal(all_ts, np.arange(n * 10, dtype=np.int64) * 1_000_000)
    assert len(list(tmp_path.glob("*.seg"))) <= 2
    assert os.path.exists(tmp_path / "checkpoint")


def test_close_waits_for_an_append_under_way_and_its_record_survives(tmp_path, monkeypatch):
    """close() from another thread while an append is between its write and its fsync: the append
    finishes on its own file (not a closed descriptor, or one the number was reused for) and the
    record is read back after reopening."""
    import faultline.ingest.spool as spool_module

    in_fsync, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd):
        if not in_fsync.is_set():
            in_fsync.set()
            release.wait(10)
        real_fsync(fd)

    spool = Spool(tmp_path)
    monkeypatch.setattr(spool_module.os, "fsync", slow_fsync)
    errors: list[BaseException] = []

    def append():
        try:
            spool.append(batch(0))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    appender = threading.Thread(target=append)
    appender.start()
    assert in_fsync.wait(10)
    closer = threading.Thread(target=spool.close)
    closer.start()
    closer.join(0.3)  # on the old code close() is done by now and has closed the append's file
    release.set()
    appender.join(10)
    closer.join(10)
    monkeypatch.undo()
    assert errors == []
    with Spool(tmp_path) as again:
        assert_same(drain(again), batch(0))


def test_damaged_sealed_segment_is_skipped_loudly_and_later_segments_still_read(tmp_path, caplog):
    record = len(encode_readings(batch(0))) + 8
    with Spool(tmp_path, max_bytes=record * 80, segment_bytes=record * 2, fsync=False) as spool:
        for i in range(6):
            spool.append(batch(i * 10))
    first = min(tmp_path.glob("*.seg"))

    def damage():
        data = bytearray(first.read_bytes())
        data[record + 30] ^= 0xFF  # the second record of the first (sealed) segment
        first.write_bytes(bytes(data))

    with Spool(tmp_path, max_bytes=record * 80, segment_bytes=record * 2, fsync=False) as spool:
        damage()  # after opening: found while reading
        got = drain(spool)
    assert "damaged record" in caplog.text
    # the first record survives; the damaged one is lost (and reported); every later segment is read
    assert got.ts.tolist() == batch(0).ts.tolist() + Readings.concat([batch(i * 10) for i in range(2, 6)]).ts.tolist()


def test_damage_found_when_opening_truncates_that_segment_and_keeps_the_rest(tmp_path):
    record = len(encode_readings(batch(0))) + 8
    with Spool(tmp_path, max_bytes=record * 80, segment_bytes=record * 2, fsync=False) as spool:
        for i in range(6):
            spool.append(batch(i * 10))
    first = min(tmp_path.glob("*.seg"))
    data = bytearray(first.read_bytes())
    data[record + 30] ^= 0xFF
    first.write_bytes(bytes(data))
    with Spool(tmp_path, max_bytes=record * 80, segment_bytes=record * 2, fsync=False) as spool:
        assert first.stat().st_size == record
        got = drain(spool)
    assert len(got) == 50


@pytest.mark.parametrize("checkpoint", [b"", b"\x10\x00\x00", b"\x00" * 20], ids=["empty", "truncated", "long"])
def test_an_empty_or_truncated_checkpoint_is_rebuilt_from_the_log(tmp_path, checkpoint):
    # an empty checkpoint file used to crash start-up with struct.error
    with Spool(tmp_path, segment_bytes=4096, max_bytes=1 << 20) as spool:
        for i in range(40):
            spool.append(batch(i * 10))
        b = spool.read(max_rows=300)
        spool.confirm(b.end, b.records)
    (tmp_path / "checkpoint").write_bytes(checkpoint)
    with Spool(tmp_path) as spool:
        got = drain(spool)
        assert 100 <= len(got) < 400  # replayed from the oldest segment kept: nothing skipped
        assert got.ts[-1] == batch(390).ts[-1]
    with Spool(tmp_path) as spool:  # the rebuilt checkpoint was written atomically and reads back
        assert spool.pending_records == 0


def test_a_record_over_a_quarter_of_the_budget_is_refused_as_too_large_not_full(tmp_path):
    from faultline.ingest.spool import SpoolRecordTooLarge

    with Spool(tmp_path, max_bytes=1 << 20) as spool:
        with pytest.raises(SpoolRecordTooLarge) as refused:
            spool.append(batch(0, n=20_000))  # 20 bytes a row: 400 kB, over 256 KiB
        assert refused.value.limit == (1 << 20) // 4 and spool.pending_records == 0
        spool.append(batch(0, n=10_000))
        assert spool.pending_records == 1


def test_checkpoint_bytes_reach_the_file_before_fsync(tmp_path, monkeypatch):
    # the checkpoint was written through a buffered file and fsync'd before Python flushed it
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_size), real_fsync(fd))[1])
    with Spool(tmp_path) as spool:
        spool.append(batch(0))
        synced.clear()
        b = spool.read()
        spool.confirm(b.end, b.records)
    assert synced[0] == 12  # the temporary checkpoint file held its 12 bytes when it was fsync'd


def test_the_checkpoint_lags_by_the_interval_and_a_crash_only_rewrites_what_it_lags(tmp_path):
    spool = Spool(tmp_path, checkpoint_interval_s=3600)
    for i in range(4):
        spool.append(batch(i * 10))
    first = spool.read(max_rows=20)
    spool.confirm(first.end, first.records)  # confirmed, not yet in the checkpoint file
    assert spool.pending_records == 2 and not (tmp_path / "checkpoint").exists()
    crashed = Spool(tmp_path)  # as after a crash: the lagging checkpoint replays the confirmed batch too
    assert crashed.pending_records == 4
    assert_same(drain(crashed, confirm=False), Readings.concat([batch(i * 10) for i in range(4)]))
    crashed.close()
    spool.checkpoint()  # the drainer calls this when idle; close() does too
    with Spool(tmp_path) as again:
        assert again.pending_records == 2
    spool.close()


def test_a_spent_segment_is_checkpointed_and_deleted_at_once_whatever_the_interval(tmp_path):
    record = len(encode_readings(batch(0))) + 8
    with Spool(tmp_path, max_bytes=record * 40, segment_bytes=record * 2, checkpoint_interval_s=3600) as spool:
        for i in range(6):
            spool.append(batch(i * 10))
        segments = len(list(tmp_path.glob("*.seg")))
        b = spool.read(max_rows=30)
        spool.confirm(b.end, b.records)
        assert len(list(tmp_path.glob("*.seg"))) < segments  # the disk budget is freed without waiting
        with Spool(tmp_path) as crashed:
            assert crashed.pending_records == 3


def test_a_checkpoint_that_fails_in_confirm_leaves_the_batch_unconfirmed(tmp_path, monkeypatch):
    with Spool(tmp_path) as spool:
        spool.append(batch(0))
        b = spool.read()
        monkeypatch.setattr(spool, "_save_checkpoint", lambda end: (_ for _ in ()).throw(OSError(5, "I/O error")))
        with pytest.raises(OSError):
            spool.confirm(b.end, b.records)
        assert spool.pending_records == 1
        spool.rewind()
        assert_same(spool.read().readings, batch(0))  # written again, and handed on again
        monkeypatch.undo()


def test_receive_stamps_outlive_the_segment_that_held_them(tmp_path):
    """A message the broker sends again after its record was written and its segment deleted keeps
    its first receive time: the stamps of deleted segments are kept beside the spool."""
    spool = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096, checkpoint_interval_s=0)
    spool.append(batch(0), {111: 1_764_000_000_000_000_001})
    while len(spool._segments) < 3:  # roll past the first segment
        spool.append(batch(100))
    end = spool._end
    spool.confirm(end, spool.pending_records)  # everything written: the first segments are deleted
    assert not spool._segment_file(0).exists()
    spool.close()
    again = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096)
    assert again.recent_stamps.get(111) == 1_764_000_000_000_000_001
    again.close()


def test_receive_stamps_of_written_records_in_an_older_segment_come_back_at_open(tmp_path):
    """Records written (confirmed) in the first of several segments, which is not yet deleted: their
    stamps are read back at open, so the broker's resend of one of them keeps its first time. (The
    open used to read them only when that segment was also the last one: the fault soak then stored
    a delivery's readings without a device timestamp twice.)"""
    spool = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096, checkpoint_interval_s=0)
    spool.append(batch(0), {111: 1_764_000_000_000_000_001})
    first_end = spool._end
    spool.append(batch(100), {222: 1_764_000_000_000_000_002})
    while len(spool._segments) < 2:  # a second segment: the first is no longer the last
        spool.append(batch(100))
    spool.confirm(first_end, 1)  # the first record written; its segment stays on disk
    assert spool._segment_file(0).exists() and not (tmp_path / "stamps").exists()
    spool.close()
    again = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096)
    assert again.recent_stamps.get(111) == 1_764_000_000_000_000_001  # confirmed, in the older segment
    assert again.recent_stamps.get(222) == 1_764_000_000_000_000_002  # not yet confirmed
    again.close()


def test_receive_stamps_of_a_segment_a_crash_left_behind_are_kept_when_it_is_deleted(tmp_path):
    """A crash after the checkpoint moved past a segment but before its stamps were saved and it was
    deleted: the next open deletes it, keeping its stamps."""
    spool = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096, checkpoint_interval_s=0)
    spool.append(batch(0), {111: 1_764_000_000_000_000_001})
    while len(spool._segments) < 3:
        spool.append(batch(100))
    spool._save_checkpoint(spool._segments[1])  # as a crash between the checkpoint and the deletion leaves it
    spool._fd = None  # the process is gone: no close
    again = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096)
    assert not again._segment_file(0).exists()
    assert again.recent_stamps.get(111) == 1_764_000_000_000_000_001
    again.close()
    third = Spool(tmp_path, max_bytes=1024**2, segment_bytes=4096)  # and from the stamps file after that
    assert third.recent_stamps.get(111) == 1_764_000_000_000_000_001
    third.close()
