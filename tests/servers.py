"""Real servers for boundary tests, each started on a free local port in a private directory.

Every class here starts the genuine server binary (Debian's packages), waits until it answers, and can
be stopped and started again while a test runs: a test that stops a server owns that server, so use a
fresh instance (function-scoped fixture) for fault tests and the shared one for everything else.

The binaries come from Debian's ``mosquitto``, ``influxdb``, ``victoria-metrics`` and ``postgresql``
packages; ``scripts/test.sh`` installs them when missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


class ServerNotAvailable(RuntimeError):
    """Raised when a server binary is missing or the server never started answering."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ServerNotAvailable(f"{what} did not answer within {timeout:.0f} s\n{tail}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_status(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(url, data=data, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if not path:
        raise ServerNotAvailable(f"{binary} not found: install Debian's {package} package (scripts/test.sh does)")
    return path


class _Server:
    """A server process with its own directory; start(), stop() and restart() keep the same port."""

    name = "server"

    def __init__(self, root: Path | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix=f"faultline-{self.name}-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.root / "server.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def ready(self) -> bool:
        return _port_open(self.port)

    def start(self, timeout: float = 30) -> "_Server":
        if self.proc and self.proc.poll() is None:
            return self
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_until(lambda: self.proc.poll() is None and self.ready(), timeout, self.name, self.log)
        return self

    def stop(self, kill: bool = False) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.kill() if kill else self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Mosquitto(_Server):
    """Mosquitto 2 speaking MQTT 5 and 3.1.1, with persistence and an unbounded per-client queue."""

    name = "mosquitto"

    def __init__(self, root: Path | None = None, max_queued_messages: int = 0):
        super().__init__(root)
        self.max_queued_messages = max_queued_messages

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        conf = self.root / "mosquitto.conf"
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        os.chmod(data, 0o777)  # mosquitto drops root privileges to its own user
        os.chmod(self.root, 0o755)  # ... who must also reach data/ (mkdtemp makes the root 0700)
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 1\n"
            f"max_queued_messages {self.max_queued_messages}\n"
            "max_inflight_messages 0\n"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\n"
        )
        return [_require("mosquitto", "mosquitto"), "-c", str(conf)]


class InfluxDB(_Server):
    """InfluxDB 1.x (Debian ships 1.6.7) on a free HTTP port; the v1 /write and /query API."""

    name = "influxdb"

    def __init__(self, root: Path | None = None):
        super().__init__(root)
        self.rpc_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        conf = self.root / "influxdb.conf"
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.root}/meta"\n'
            f'[data]\n  dir = "{self.root}/data"\n  wal-dir = "{self.root}/wal"\n'
            "  query-log-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
        )
        return [_require("influxd", "influxdb"), "-config", str(conf)]

    def ready(self) -> bool:
        return _http_status(f"{self.url}/ping") == 204

    def query(self, q: str, database: str | None = None) -> dict:
        """Run InfluxQL and return the decoded JSON answer."""
        import json

        params = {"q": q, "epoch": "ns"}
        if database:
            params["db"] = database
        body = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=body, timeout=30) as r:
            return json.loads(r.read())

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')


class NatsMqtt(_Server):
    """nats-server (Debian's 2.9) with its MQTT listener: a real broker that speaks MQTT 3.1.1 only
    (it refuses an MQTT 5 CONNECT with "unacceptable protocol version"), sessions in JetStream."""

    name = "nats"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        conf = self.root / "nats.conf"
        conf.write_text(
            f"listen: 127.0.0.1:{free_port()}\nserver_name: faultline-test\n"
            f'jetstream {{ store_dir: "{self.root}/jetstream" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.port} }}\n"
        )
        return [_require("nats-server", "nats-server"), "-c", str(conf)]


class VictoriaMetrics(_Server):
    """VictoriaMetrics, which accepts InfluxDB line protocol on the v2 ``/api/v2/write`` endpoint."""

    name = "victoria-metrics"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            _require("victoria-metrics", "victoria-metrics"),
            f"-storageDataPath={self.root}/data",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-loggerLevel=ERROR",
            "-search.latencyOffset=0s",
            # the default retention (1 month) would silently drop replayed or simulated history
            "-retentionPeriod=100y",
        ]

    def ready(self) -> bool:
        return _http_status(f"{self.url}/health") == 200

    def flush(self) -> None:
        """Make just-written samples visible to queries (VictoriaMetrics buffers them briefly)."""
        _http_status(f"{self.url}/internal/force_flush")

    def export(self, match: str = '{__name__!=""}') -> list[dict]:
        """All stored series as dicts with ``metric``, ``values`` and ``timestamps`` (ms)."""
        import json

        self.flush()
        q = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{q}", timeout=30) as r:
            return [json.loads(line) for line in r.read().splitlines() if line.strip()]


class PostgreSQL(_Server):
    """A private PostgreSQL cluster (initdb in a temporary directory), trust auth, database ``faultline``."""

    name = "postgresql"

    def __init__(self, root: Path | None = None):
        super().__init__(root)
        self.bindir = self._find_bindir()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.data = self.root / "data"

    @staticmethod
    def _find_bindir() -> Path:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        if candidates:
            return candidates[0].parent
        initdb = shutil.which("initdb")
        if initdb:
            return Path(initdb).parent
        raise ServerNotAvailable("initdb not found: install Debian's postgresql package (scripts/test.sh does)")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/faultline"

    def _as_owner(self, argv: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root; run them as the postgres user instead.
        return ["runuser", "-u", self.user, "--", *argv] if os.geteuid() == 0 else argv

    def stop(self, kill: bool = False) -> None:
        """A fast shutdown (clients disconnected): a smart one, what SIGTERM asks for, waits for every
        open connection, and a test that failed may have left one open."""
        if not kill and self.proc and self.proc.poll() is None:
            subprocess.run(
                self._as_owner(
                    [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30"]
                ),
                capture_output=True,
            )
        super().stop(kill)

    def start(self, timeout: float = 60) -> "PostgreSQL":
        if not (self.data / "PG_VERSION").exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, self.user)
            subprocess.run(
                self._as_owner(
                    [
                        str(self.bindir / "initdb"),
                        "-D",
                        str(self.data),
                        "-A",
                        "trust",
                        "-U",
                        self.user,
                        "--no-sync",
                        "-E",
                        "UTF8",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        super().start(timeout)
        _wait_until(self._accepts_queries, timeout, "postgresql", self.log)
        self._ensure_database()
        return self

    def command(self) -> list[str]:
        return self._as_owner(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.root),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=50",
            ]
        )

    def _psql(self, sql: str, db: str = "postgres") -> subprocess.CompletedProcess:
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", db, "-tAc", sql],
            capture_output=True,
            text=True,
        )

    def _accepts_queries(self) -> bool:
        return self._psql("select 1").returncode == 0

    def _ensure_database(self) -> None:
        if self._psql("select 1 from pg_database where datname='faultline'").stdout.strip() != "1":
            self._psql("create database faultline")


class MotoS3(_Server):
    """An S3-compatible endpoint from moto's standalone server (``moto[server]``, PyPI), for the S3
    attachment store: real HTTP and the S3 wire protocol, objects held in the server's memory."""

    name = "moto-s3"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        import sys

        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            raise ServerNotAvailable("moto_server not found: pip install 'faultline[test]' (moto[server])")
        return [str(binary), "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        return _http_status(f"{self.url}/moto-api/") == 200
