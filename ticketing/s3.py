"""`S3Blobs`: attachment files in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, …).

Chosen with ``attachments.s3`` in the configuration; the folder (`ticketing.attachments.FolderBlobs`)
stays the default. Uploads are still received into a local ``.incoming`` folder first (the size and
type checks and the SHA-256 need the whole file once), then sent to the bucket under
``<prefix><key>`` and removed locally. Needs boto3 (``pip install 'faultline[s3]'``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class S3Settings(BaseModel):
    """The ``attachments.s3`` section: the bucket and how to reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    prefix: str = Field("faultline/", description="put before every key")
    endpoint_url: str | None = Field(None, description="the store's address (none: AWS S3 of the region)")
    region: str | None = None
    access_key_id: str | None = Field(None, description="none: boto3's usual sources (environment, profile, role)")
    secret_access_key: str | None = None


class S3Blobs:
    """Attachment files as objects in ``bucket`` (see the module docstring)."""

    def __init__(self, client: Any, bucket: str, prefix: str, incoming: str | Path):
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.incoming = Path(incoming)

    @classmethod
    def from_settings(cls, settings: S3Settings, incoming: str | Path) -> "S3Blobs":
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
        )
        return cls(client, settings.bucket, settings.prefix, incoming)

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"attachment key {key!r} is not a plain relative key")
        return self.prefix + key

    def temporary(self) -> Path:
        self.incoming.mkdir(parents=True, exist_ok=True)
        return self.incoming / f"{secrets.token_hex(8)}.part"

    def keep(self, temporary: Path, key: str) -> None:
        try:
            self.client.upload_file(str(temporary), self.bucket, self._key(key))
        finally:
            temporary.unlink(missing_ok=True)

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def read(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return data

    def chunks(self, key: str, size: int = 256 * 1024) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        try:
            yield from body.iter_chunks(size)
        finally:
            body.close()


__all__ = ["S3Blobs", "S3Settings"]
