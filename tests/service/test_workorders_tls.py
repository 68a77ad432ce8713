"""The work-order store's URL passes libpq's TLS parameters through (``sslmode``, ``sslrootcert``,
``sslcert``, ``sslkey``): checked against a real PostgreSQL serving TLS with certificates the test makes."""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy

from tests import servers
from tests.tls import make_pki
from faultline.ticketing.store import WorkOrderStore

pytestmark = pytest.mark.servers


class TlsPostgreSQL(servers.PostgreSQL):
    """PostgreSQL with ``ssl=on`` and a server certificate for 127.0.0.1 signed by the test CA."""

    def __init__(self):
        super().__init__()
        self.pki = make_pki(self.root / "pki")
        if os.geteuid() == 0:  # the server runs as its own user and wants its key private
            shutil.chown(self.root / "pki", self.user)
            for f in (self.root / "pki").iterdir():
                shutil.chown(f, self.user)
        os.chmod(self.pki.server_key, 0o600)

    def command(self) -> list[str]:
        return [
            *super().command(),
            "-c",
            "ssl=on",
            "-c",
            f"ssl_cert_file={self.pki.server_cert}",
            "-c",
            f"ssl_key_file={self.pki.server_key}",
        ]


@pytest.fixture(scope="module")
def tls_postgresql():
    server = TlsPostgreSQL()
    server.start()
    yield server
    server.close()


def test_verify_full_with_our_ca_opens_the_store_over_tls(tls_postgresql):
    url = f"{tls_postgresql.url}?sslmode=verify-full&sslrootcert={tls_postgresql.pki.ca}"
    with WorkOrderStore(url) as store:
        assert store.open_orders_per_assignee() == {}  # migrated and queried over the TLS connection
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar() is True
    finally:
        engine.dispose()


def test_a_server_certificate_from_another_ca_is_refused(tls_postgresql, tmp_path):
    other = make_pki(tmp_path / "other", ca_name="another CA")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="certificate verify failed"):
        with WorkOrderStore(f"{tls_postgresql.url}?sslmode=verify-full&sslrootcert={other.ca}"):
            pass
