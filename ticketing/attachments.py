"""Photos, videos and documents on work orders and their comments, kept outside the database row.

An upload is streamed to a temporary file beside the store's folder while its SHA-256 is computed
and its size counted against the limit of its kind; its type is read from its first bytes (what a
client declares is not trusted); an image gets a JPEG thumbnail. Only then is the file moved to its
place, named by the order and its digest, and the order records it as an `Attachment` — one audited
change (action ``attach``), so the audit log holds each upload's SHA-256.

The bytes live in a folder (`FolderBlobs`: ``attachments.path``, by default ``attachments/`` beside
the service's state file); the database keeps
only the description. Limits are in bytes (``attachments.max_bytes`` per kind and
``attachments.max_order_bytes`` per order).

>>> sniff(b"%PDF-1.7 ...")
'application/pdf'
>>> sniff(b"\\x00\\x00\\x00\\x18ftypmp42"), sniff(b"GIF89a\\x01\\x00\\x00")
('video/mp4', None)
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultline.ticketing.models import Attachment, WorkOrder
from faultline.ticketing.s3 import S3Settings

if TYPE_CHECKING:
    from faultline.ticketing.lifecycle import Actor, ServiceDesk

MiB = 1024 * 1024

#: The types accepted, by kind: what an engineer sends from a phone or a laptop.
KINDS: dict[str, str] = {
    "image/jpeg": "photo",
    "image/png": "photo",
    "image/webp": "photo",
    "video/mp4": "video",
    "video/quicktime": "video",
    "video/webm": "video",
    "application/pdf": "document",
    "text/plain": "document",
}
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
#: Bytes read before the type is decided (enough for every signature above and a text check).
HEAD_BYTES = 4096


class AttachmentRefused(ValueError):
    """Raised when an upload is too large, of a type not accepted, or not what it claims to be."""

    def __init__(self, reason: str, status: int = 422):
        super().__init__(reason)
        self.reason, self.status = reason, status


class AttachmentSettings(BaseModel):
    """The ``attachments:`` section: where the files go and how large they may be (bytes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        None, description="the folder the files are kept in (default: attachments/ beside service.state_path)"
    )
    max_bytes: dict[str, int] = Field(
        default_factory=lambda: {"photo": 20 * MiB, "video": 200 * MiB, "document": 20 * MiB},
        description="largest file of each kind (photo, video, document)",
    )
    max_order_bytes: int = Field(1024 * MiB, gt=0, description="all attachments of one order together")
    thumbnail_px: int = Field(320, ge=32, le=2048, description="longest side of an image's thumbnail")
    s3: S3Settings | None = Field(
        None,
        description="keep the files in this S3-compatible bucket instead of the "
        "folder (path then only receives uploads in progress)",
    )

    @field_validator("max_bytes")
    @classmethod
    def _every_kind(cls, value: dict[str, int]) -> dict[str, int]:
        kinds = sorted(set(KINDS.values()))
        if unknown := sorted(set(value) - set(kinds)):
            raise ValueError(f"unknown kind {unknown[0]!r} (known: {', '.join(kinds)})")
        if bad := [k for k, v in value.items() if v <= 0]:
            raise ValueError(f"max_bytes.{bad[0]} must be more than 0 bytes")
        return {k: value.get(k, 0) for k in kinds if k in value}

    @property
    def largest(self) -> int:
        """The largest single upload any kind allows (the HTTP body limit of the upload route)."""
        return max(self.max_bytes.values(), default=0)


def sniff(head: bytes) -> str | None:
    """The content type the first bytes show, among `KINDS`; None when none matches."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head and b"\x00" not in head:
        try:  # a multi-byte character may be cut at the end of the head
            head.decode("utf-8") if len(head) < HEAD_BYTES else head[:-3].decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            return None
    return None


class FolderBlobs:
    """Attachment files in a folder: ``<root>/<key>``; uploads arrive in ``<root>/.incoming``."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.incoming = self.root / ".incoming"

    def path(self, key: str) -> Path:
        """Where ``key`` is kept; a key that would leave the folder is refused."""
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"attachment key {key!r} is outside {self.root}")
        return path

    def temporary(self) -> Path:
        self.incoming.mkdir(parents=True, exist_ok=True)
        return self.incoming / f"{secrets.token_hex(8)}.part"

    def keep(self, temporary: Path, key: str) -> None:
        """Move a finished upload to ``key`` (durably: the file and its folder are synced)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, target)
        _sync_dir(target.parent)

    def write(self, key: str, data: bytes) -> None:
        temporary = self.temporary()
        temporary.write_bytes(data)
        self.keep(temporary, key)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def chunks(self, key: str, size: int = 256 * 1024) -> Iterator[bytes]:
        """The file's bytes a piece at a time (a download never holds a video in memory)."""
        with open(self.path(key), "rb") as f:
            while chunk := f.read(size):
                yield chunk

    def size_of_folder(self) -> int:
        """Bytes kept (for the health of the disk)."""
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Blobs(Protocol):
    """Where attachment files are kept: a folder (`FolderBlobs`) or an object store (``ticketing.s3``)."""

    def temporary(self) -> Path: ...

    def keep(self, temporary: Path, key: str) -> None: ...

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def read(self, key: str) -> bytes: ...

    def chunks(self, key: str) -> Iterator[bytes]: ...


class Upload:
    """One upload on its way in: `write` chunks, then `Attachments.finish` (or `discard`)."""

    def __init__(self, order: WorkOrder, temporary: Path, settings: AttachmentSettings):
        self.order, self.temporary, self.settings = order, temporary, settings
        self.size = 0
        self.content_type: str | None = None
        self._head = b""
        self._digest = hashlib.sha256()
        self._file = open(temporary, "wb")

    @property
    def limit(self) -> int:
        kind = KINDS.get(self.content_type or "")
        return self.settings.max_bytes.get(kind, 0) if kind else self.settings.largest

    def write(self, chunk: bytes) -> None:
        """Take the next bytes; `AttachmentRefused` (413) as soon as the kind's limit is passed."""
        self.size += len(chunk)
        self._digest.update(chunk)
        self._file.write(chunk)
        if self.content_type is None and len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self._decide()
        if self.size > self.limit:
            kind = KINDS.get(self.content_type or "", "attachment")
            raise AttachmentRefused(
                f"{kind} of more than {self.limit} bytes is over the limit (attachments.max_bytes)", 413
            )

    def _decide(self) -> None:
        self.content_type = sniff(self._head)
        if self.content_type is None or self.content_type not in _allowed(self.settings):
            shown = self._head[:8].hex(" ")
            raise AttachmentRefused(
                f"not an accepted type (first bytes {shown}); accepted: "
                f"{', '.join(t for t in KINDS if t in _allowed(self.settings))}",
                415,
            )

    def done(self) -> str:
        """Close the file; the SHA-256 of what was written."""
        if self.content_type is None:
            self._decide()
        if self.size == 0:
            raise AttachmentRefused("the upload is empty")
        self._file.close()
        return self._digest.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.temporary.unlink(missing_ok=True)


def _allowed(settings: AttachmentSettings) -> set[str]:
    return {t for t, kind in KINDS.items() if kind in settings.max_bytes}


def thumbnail(data: bytes, px: int) -> bytes:
    """A JPEG of at most ``px`` × ``px`` pixels, upright as the camera held it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((px, px))
            out = BytesIO()
            upright.convert("RGB").save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise AttachmentRefused(f"not a readable image: {exc}") from None
    return out.getvalue()


class Attachments:
    """Uploads onto stored orders: files into ``blobs``, descriptions onto the order through ``desk``.

    Parameters
    ----------
    desk
        A `ticketing.lifecycle.ServiceDesk`: the ``attach`` step is audited and notified like any other.
    blobs
        Where the files are kept (`FolderBlobs`, or ``ticketing.s3.S3Blobs``).
    settings
        The limits.
    """

    def __init__(self, desk: ServiceDesk, blobs: Blobs, settings: AttachmentSettings) -> None:
        self.desk, self.blobs, self.settings = desk, blobs, settings

    def begin(self, order_id: int) -> Upload:
        """Start an upload to an order (`ticketing.OrderNotFound` when there is none)."""
        return Upload(self.desk.store.get(order_id), self.blobs.temporary(), self.settings)

    def finish(
        self, upload: Upload, actor: Actor, name: str, comment: int | None = None
    ) -> tuple[WorkOrder, Attachment]:
        """Keep the upload and record it on its order; the file is removed again if the order refuses it."""
        try:
            sha256 = upload.done()
            order = upload.order
            content_type = upload.content_type or ""
            key = f"orders/{order.id}/{sha256}{_EXTENSIONS[content_type]}"
            thumb = None
            if KINDS[content_type] == "photo":
                thumb = f"orders/{order.id}/{sha256}.thumb.jpg"
                self.blobs.write(thumb, thumbnail(upload.temporary.read_bytes(), self.settings.thumbnail_px))
            self.blobs.keep(upload.temporary, key)
        except BaseException:
            upload.discard()
            raise
        attachment = Attachment(
            id=sha256[:12],
            name=_clean_name(name, content_type),
            kind=KINDS[content_type],
            content_type=content_type,
            size=upload.size,
            sha256=sha256,
            key=key,
            thumbnail_key=thumb,
            comment=comment,
            uploaded_by=actor.name,
            at=self.desk.lifecycle.clock.now(),
        )
        assert order.id is not None  # the upload was begun on a stored order
        try:
            saved = self.desk.act(
                order.id, actor, "attach", attachment=attachment, max_order_bytes=self.settings.max_order_bytes
            )
        except BaseException:
            still_used = any(a.key == key for a in self.desk.store.get(order.id).attachments)
            if not still_used:
                for k in (key, thumb):
                    if k:
                        self.blobs.delete(k)
            raise
        return saved, attachment

    def add(
        self, order_id: int, actor: Actor, name: str, chunks: Iterable[bytes], comment: int | None = None
    ) -> tuple[WorkOrder, Attachment]:
        """`begin`, write every chunk, `finish`: an upload from memory or a file."""
        upload = self.begin(order_id)
        try:
            for chunk in chunks:
                upload.write(chunk)
        except BaseException:
            upload.discard()
            raise
        return self.finish(upload, actor, name, comment)

    def thumbnail_of(self, attachment: Attachment) -> bytes | None:
        """An image's thumbnail bytes (None for other kinds, or when the file is gone)."""
        if attachment.thumbnail_key is None:
            return None
        try:
            return self.blobs.read(attachment.thumbnail_key)
        except Exception:  # noqa: BLE001 - a report without one picture beats no report
            return None


def _clean_name(name: str, content_type: str) -> str:
    """The file name as shown and offered for download: no folders, no control characters."""
    base = Path(name.replace("\\", "/")).name
    base = "".join(c for c in base if c.isprintable() and c not in '"')[:120].strip()
    return base or f"attachment{_EXTENSIONS[content_type]}"


def check_attachment(order: WorkOrder, attachment: Attachment, max_order_bytes: int) -> None:
    """Why ``order`` cannot take ``attachment``: a comment it does not have, the same file twice, or
    over the order's byte budget (`AttachmentRefused`); quiet when it can."""
    if attachment.comment is not None and not 1 <= attachment.comment <= len(order.comments):
        raise AttachmentRefused(f"{order.number} has comments 1..{len(order.comments)}, not {attachment.comment}")
    if any(a.sha256 == attachment.sha256 for a in order.attachments):
        raise AttachmentRefused(f"{order.number} already has this file (sha256 {attachment.sha256[:12]}…)", 409)
    total = sum(a.size for a in order.attachments) + attachment.size
    if total > max_order_bytes:
        raise AttachmentRefused(
            f"{order.number}'s attachments would come to {total} bytes, over the "
            f"{max_order_bytes} bytes an order may hold (attachments.max_order_bytes)",
            413,
        )


__all__ = [
    "AttachmentRefused",
    "AttachmentSettings",
    "Attachments",
    "Blobs",
    "FolderBlobs",
    "KINDS",
    "Upload",
    "check_attachment",
    "sniff",
    "thumbnail",
]
