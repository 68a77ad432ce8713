"""How the HTTP writers classify answers, against a tiny local HTTP server that answers as told.

The real servers cover success, rejected points and outages (test_writers_influx.py); a scripted
server is the way to see 401, 403, 413, 429 and 503 with Retry-After without configuring each one.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultline.ingest.readings import Readings, SeriesKey
from faultline.ingest.writers import FatalWriteError, InfluxV1Writer, InfluxV2Writer, RetryableWriteError
from faultline.ingest.writers.base import LineProtocolWriter, Response, parse_retry_after

Answer = tuple[int, dict, bytes]  # status, headers, body


class ScriptedServer:
    """An HTTP server on a free port whose answer to each POST is ``answer(body) -> Answer``."""

    def __init__(self, answer: Callable[[bytes], Answer]):
        self.answer = answer
        self.bodies: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/query"):  # CREATE DATABASE from the v1 writer
                    status, headers, reply = 200, {}, b'{"results":[{}]}'
                else:
                    server.bodies.append(body)
                    status, headers, reply = server.answer(body)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def lines(self) -> list[bytes]:
        return [line for body in self.bodies for line in body.split(b"\n")]


@pytest.fixture
def scripted():
    servers = []

    def start(answer):
        servers.append(ScriptedServer(answer))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def make_writer(kind: str, url: str, timeout: float = 5.0, max_lines: int = 5000):
    if kind == "v1":
        return InfluxV1Writer(url, "db", timeout=timeout, max_lines=max_lines)
    return InfluxV2Writer(url, token="t", org="o", bucket="b", timeout=timeout, max_lines=max_lines)


def readings(n: int, bad: set[int] = frozenset()) -> Readings:
    """``n`` rows; rows in ``bad`` belong to series ``sensor=bad`` that the scripted server refuses."""
    good_key, bad_key = SeriesKey("m", (("sensor", "good"),), "v"), SeriesKey("m", (("sensor", "bad"),), "v")
    index = np.array([1 if i in bad else 0 for i in range(n)], dtype=np.int32)
    return Readings((good_key, bad_key), index, np.arange(n, dtype=np.int64) + 1_000, np.arange(n) + 0.5)


KINDS = ["v1", "v2"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_fatal(scripted, kind, status):
    server = scripted(lambda body: (status, {}, b'{"error":"authorization failed"}'))
    with make_writer(kind, server.url) as w, pytest.raises(FatalWriteError, match="check the") as exc:
        w.write(readings(3))
    assert exc.value.status == status and "authorization failed" in exc.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_missing_database_or_bucket_is_fatal(scripted, kind):
    server = scripted(lambda body: (404, {}, b'{"error":"database not found: \\"db\\""}'))
    with make_writer(kind, server.url) as w, pytest.raises(FatalWriteError, match="database not found"):
        w.write(readings(3))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "status, headers, retry_after",
    [
        (429, {"Retry-After": "7"}, 7.0),
        (503, {"Retry-After": "1.5"}, 1.5),
        (500, {}, None),
        (502, {"Retry-After": "soon"}, None),
    ],
)
def test_overload_and_server_errors_are_retryable_with_retry_after(scripted, kind, status, headers, retry_after):
    server = scripted(lambda body: (status, headers, b'{"error":"busy"}'))
    with make_writer(kind, server.url) as w, pytest.raises(RetryableWriteError) as exc:
        w.write(readings(3))
    assert exc.value.status == status and exc.value.retry_after == retry_after


@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused_is_retryable(kind):
    from tests.servers import free_port

    with make_writer(kind, f"http://127.0.0.1:{free_port()}") as w, pytest.raises(RetryableWriteError, match="reach"):
        w.write(readings(3))


@pytest.mark.parametrize("kind", KINDS)
def test_timeout_is_retryable(scripted, kind):
    def slow(body):
        time.sleep(1.0)
        return 204, {}, b""

    server = scripted(slow)
    with make_writer(kind, server.url, timeout=0.2) as w, pytest.raises(RetryableWriteError):
        w.write(readings(3))


@pytest.mark.parametrize("kind", KINDS)
def test_bad_lines_are_found_by_bisection_and_the_rest_written(scripted, kind):
    def refuse_bad(body):
        if b"sensor=bad" in body:
            return 400, {}, b'{"error":"partial write: field type conflict dropped=1"}'
        return 204, {}, b""

    server = scripted(refuse_bad)
    bad = {3, 17, 18, 40}
    with make_writer(kind, server.url) as w:
        result = w.write(readings(50, bad))
    assert result.written == 46
    assert sorted(int(line.rsplit(b" ", 1)[1]) - 1_000 for line, _ in result.rejected) == sorted(bad)
    assert all("field type conflict" in reason and reason.startswith("HTTP 400") for _, reason in result.rejected)
    accepted = [body for body in server.bodies if b"sensor=bad" not in body]
    written_rows = sorted(int(line.rsplit(b" ", 1)[1]) - 1_000 for body in accepted for line in body.split(b"\n"))
    assert written_rows == [i for i in range(50) if i not in bad]


@pytest.mark.parametrize("kind", KINDS)
def test_too_large_bodies_are_split(scripted, kind):
    server = scripted(lambda body: (413, {}, b"too large") if body.count(b"\n") >= 4 else (204, {}, b""))
    with make_writer(kind, server.url) as w:
        result = w.write(readings(20))
    assert result == (20, [])
    accepted = [line for body in server.bodies if body.count(b"\n") < 4 for line in body.split(b"\n")]
    assert sorted(int(line.rsplit(b" ", 1)[1]) for line in accepted) == list(range(1_000, 1_020))


def test_a_single_line_too_large_is_rejected(scripted):
    server = scripted(lambda body: (413, {}, b"too large"))
    with make_writer("v1", server.url) as w:
        result = w.write(readings(2))
    assert result.written == 0 and [r for _, r in result.rejected] == ["too large for the store (HTTP 413)"] * 2


def test_batches_are_sent_in_chunks_of_max_lines(scripted):
    server = scripted(lambda body: (204, {}, b""))
    with make_writer("v1", server.url, max_lines=7) as w:
        assert w.write(readings(20)) == (20, [])
    assert sorted(body.count(b"\n") + 1 for body in server.bodies) == [6, 7, 7]  # two in flight: any order


def test_unencodable_rows_are_rejected_without_a_request(scripted):
    server = scripted(lambda body: (204, {}, b""))
    with make_writer("v1", server.url) as w:
        r = Readings((SeriesKey("m", (("t", "a\\"),), "v"),), np.zeros(1, np.int32), np.ones(1, np.int64), np.ones(1))
        result = w.write(r)
    assert result.written == 0 and "InfluxDB 1.x cannot store" in result.rejected[0].reason
    assert server.bodies == []


def test_retry_after_parsing():
    assert parse_retry_after(None) is None
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Sat, 21 Nov 2026 16:00:30 GMT", now=lambda: 1_795_276_800.0) == 30.0
    assert parse_retry_after("whenever") is None


def test_a_prepared_batch_is_written_again_after_a_retryable_failure(scripted):
    answers = iter([(503, {}, b"busy"), (204, {}, b"")])
    server = scripted(lambda body: next(answers))
    with make_writer("v1", server.url) as w:
        batch = w.prepare(readings(4))
        with pytest.raises(RetryableWriteError):
            w.write_prepared(batch)
        assert w.write_prepared(batch) == (4, [])
    assert server.bodies[0] == server.bodies[1] and server.bodies[0].count(b"\n") == 3


@pytest.mark.parametrize("kind", KINDS)
def test_large_batches_in_several_requests_find_bad_lines_in_every_chunk(scripted, kind):
    def refuse_bad(body):
        return (400, {}, b'{"error":"bad point"}') if b"sensor=bad" in body else (204, {}, b"")

    server = scripted(refuse_bad)
    bad = {0, 9, 10, 33, 49}
    with make_writer(kind, server.url, max_lines=8) as w:
        result = w.write(readings(50, bad))
    assert result.written == 45
    assert sorted(int(line.rsplit(b" ", 1)[1]) - 1_000 for line, _ in result.rejected) == sorted(bad)
    accepted = sorted(
        int(line.rsplit(b" ", 1)[1]) - 1_000
        for body in server.bodies
        if b"sensor=bad" not in body
        for line in body.split(b"\n")
    )
    assert accepted == [i for i in range(50) if i not in bad]


def test_a_failure_in_a_later_request_is_raised_and_the_batch_can_be_written_again(scripted):
    answers = iter([(204, {}, b""), (503, {"Retry-After": "2"}, b"busy")])
    server = scripted(lambda body: next(answers, (204, {}, b"")))
    with make_writer("v1", server.url, max_lines=5) as w:
        with pytest.raises(RetryableWriteError) as exc:
            w.write(readings(15))
        assert exc.value.retry_after == 2.0
        assert w.write(readings(15)) == (15, [])
    # the second request failed; with two in flight the third may have been sent meanwhile
    assert len(server.bodies) in (2 + 3, 3 + 3)


class _RefusingWriter(LineProtocolWriter):
    """The bisection logic without HTTP: refuses any body holding a ``sensor=bad`` line (400)."""

    def __init__(self, max_lines: int):
        super().__init__(max_lines)
        self.stored: list[bytes] = []

    def _post(self, body: bytes) -> Response:
        if b"sensor=bad" in body:
            return Response(400, "bad point")
        self.stored.extend(body.split(b"\n"))
        return Response(204, "")

    def _close_client(self) -> None:
        pass


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), data=st.data(), max_lines=st.integers(1, 64))
def test_bisection_isolates_exactly_the_refused_lines(n, data, max_lines):
    bad = data.draw(st.sets(st.integers(0, n - 1), max_size=n))
    with _RefusingWriter(max_lines) as w:
        result = w.write(readings(n, bad))

    def stamps(lines) -> list[int]:
        return sorted(int(line.rsplit(b" ", 1)[1]) - 1_000 for line in lines)

    assert result.written == n - len(bad)
    assert stamps(line for line, _ in result.rejected) == sorted(bad)
    assert stamps(w.stored) == [i for i in range(n) if i not in bad]


def test_rows_that_cannot_be_encoded_are_rejected_in_every_request():
    batch = readings(20)
    value = batch.value.copy()
    value[[2, 11, 19]] = [np.nan, np.inf, -np.inf]
    with _RefusingWriter(max_lines=6) as w:
        result = w.write(Readings(batch.series, batch.index, batch.ts, value))
    assert result.written == 17
    assert sorted(reason for _, reason in result.rejected) == [
        "value -inf is not finite",
        "value inf is not finite",
        "value nan is not finite",
    ]
    assert len(w.stored) == 17


class Overlap:
    """A server answer that holds each request a moment and records how many were in flight."""

    def __init__(self):
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, body):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return 204, {}, b""


@pytest.mark.parametrize("kind", KINDS)
def test_requests_of_a_large_batch_are_in_flight_together(scripted, kind):
    answer = Overlap()
    server = scripted(answer)
    with make_writer(kind, server.url, max_lines=10) as w:
        assert w.write(readings(60)) == (60, [])
    assert answer.most == 2 and len(server.bodies) == 6
    assert sorted(int(line.rsplit(b" ", 1)[1]) for line in server.lines()) == list(range(1_000, 1_060))


def test_requests_holding_the_same_point_go_one_after_the_other(scripted):
    answer = Overlap()
    server = scripted(answer)
    key = SeriesKey("m", (("sensor", "good"),), "v")
    # rows 0-9 and 10-19 both hold the point at ts 5: its later value (from the second request) must win
    ts = np.concatenate([np.arange(10), np.arange(10) - 5 + 10]) + 1_000
    ts[15] = 1_005
    batch = Readings((key,), np.zeros(20, np.int32), ts.astype(np.int64), np.arange(20.0))
    with make_writer("v1", server.url, max_lines=10) as w:
        assert w.write(batch) == (20, [])
    assert answer.most == 1
    assert server.bodies[0].split(b"\n")[5] == b"m,sensor=good v=5 1005"
    assert server.bodies[1].split(b"\n")[5] == b"m,sensor=good v=15 1005"


def influxdb_holding_integers(measurements: set[bytes], status: int):
    """Answers as InfluxDB does when ``measurements`` hold field ``v`` as integer: the other lines are
    stored, the refused ones counted in ``dropped`` and the first one named (1.x: 400, 2.x: 422)."""

    def answer(body: bytes) -> Answer:
        names = [line.split(b" ")[0].split(b",")[0] for line in body.split(b"\n")]
        refused = [name for name in names if name in measurements]
        if not refused:
            return 204, {}, b""
        message = (
            f'failure writing points to database: partial write: field type conflict: input field \\"v\\" '
            f'on measurement \\"{refused[0].decode()}\\" is type float, already exists as type integer '
            f"dropped={len(refused)}"
        )
        return (
            status,
            {"Content-Type": "application/json"},
            (b'{"code":"unprocessable entity","message":"%s","error":"%s"}' % (message.encode(), message.encode())),
        )

    return answer


@pytest.mark.parametrize("kind, status", [("v1", 400), ("v2", 422)])
def test_field_type_conflicts_are_learned_from_the_message_and_refused_apart(scripted, kind, status):
    server = scripted(influxdb_holding_integers({b"old1", b"old2"}, status))
    keys = (SeriesKey("m", (("sensor", "good"),), "v"), SeriesKey("old1", (), "v"), SeriesKey("old2", (), "v"))
    n = 2_000
    index = np.where(np.arange(n) % 100 == 7, 1, np.where(np.arange(n) % 100 == 8, 2, 0)).astype(np.int32)
    batch = Readings(keys, index, np.arange(n, dtype=np.int64) + 1_000, np.arange(n) + 0.5)
    with make_writer(kind, server.url, max_lines=500) as w:
        result = w.write(batch)
        assert w.field_types.suspect == {("old1", "v"): "integer", ("old2", "v"): "integer"}
        first = len(server.bodies)
        again = w.write(batch)
    assert result.written == again.written == n - 40
    assert sorted(result.rejected) == sorted(again.rejected)
    assert {reason for _, reason in result.rejected} == {
        f'field type conflict: the store holds field "v" of measurement "{m}" as integer; this reading is a float'
        for m in ("old1", "old2")
    }
    assert sorted(int(line.rsplit(b" ", 1)[1]) - 1_000 for line, _ in result.rejected) == [
        i for i in range(n) if i % 100 in (7, 8)
    ]
    # no bisection: learning costs a few refused requests, then each field's 20 points in one request
    assert first <= 12
    assert sorted(body.count(b"\n") + 1 for body in server.bodies[first:]) == [20, 20, 460, 500, 500, 500]
