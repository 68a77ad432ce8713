"""Detector configuration versions of the live service: the one in force, applying one, shadow mode.

Every configuration proposed or applied is a numbered version in the service state file
(`service.state.ServiceDb`). Applying one swaps the live engine for one built from the version,
carrying over the state of the checks it leaves unchanged; shadow mode runs a version beside the
live one. What the engines hold is saved by the ``save`` function the runtime passes in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from faultline.detectors import DetectorsConfig, Engine
from faultline.service.state import ServiceDb
from faultline.vocabulary import Clock

if TYPE_CHECKING:  # the runtime imports this module
    from faultline.service.runtime import Detection

log = logging.getLogger(__name__)


def current_version(db: ServiceDb) -> dict[str, Any]:
    """The applied version (the newest applied, should the file hold more than one)."""
    return [v for v in db.versions() if v["status"] == "applied"][-1]


def log_fresh(engine: Engine) -> None:
    if engine.fresh_checks:
        log.warning(
            "%s: these checks could not resume their saved state and start afresh (warm-up, open alerts forgotten): %s",
            engine.config_version,
            ", ".join(engine.fresh_checks),
        )


class DetectorVersions:
    """Apply, shadow and roll back detector configuration versions on the live ``detection``.

    Parameters
    ----------
    db : the service state file, where the versions are
    detection : the live engines (swapped under ``detection.lock``)
    clock : when a version was applied
    save : saves the engines' state; ``save(True)`` even when nothing changed
    """

    def __init__(self, db: ServiceDb, detection: "Detection", clock: Clock, save: Callable[[bool], None]):
        self.db, self.detection, self.clock, self._save = db, detection, clock, save

    def current(self) -> dict[str, Any]:
        return current_version(self.db)

    def version(self, number: int) -> dict[str, Any] | None:
        return self.db.version(number)

    def versions(self) -> list[dict[str, Any]]:
        return self.db.versions()

    @property
    def shadow_version(self) -> int | None:
        return self.detection.shadow_version

    def check_names(self) -> list[str]:
        """The live engine's checks (those of every class when no stream has been seen yet)."""
        engine = self.detection.engine
        return engine.check_names or sorted({n for c in engine.config.classes.values() for n in c.checks})

    def propose(self, config: DetectorsConfig, note: str | None, author: str) -> dict[str, Any]:
        """Record ``config`` as a new proposed version; nothing changes until it is applied."""
        number = self.db.add_version(
            config.model_dump(mode="json", by_alias=True),
            config.digest(),
            "proposed",
            self.clock.now(),
            note=note or "",
            author=author,
        )  # the column is NOT NULL
        return self._version(number)

    def _version(self, number: int) -> dict[str, Any]:
        """A version just written (it is there)."""
        version = self.db.version(number)
        assert version is not None
        return version

    def apply(self, number: int) -> dict[str, Any]:
        """Make version ``number`` the live configuration; unchanged checks keep their state."""
        version = self.db.version(number)
        if version is None:
            raise KeyError(number)
        config = DetectorsConfig.model_validate(version["config"])
        now = self.clock.now()
        detection = self.detection
        with detection.lock:
            current = self.current()
            detection.engine = Engine.from_dict(config, detection.engine.to_dict(), f"v{number}")
            log_fresh(detection.engine)
            if current["number"] != number:
                self.db.set_version_status(current["number"], "superseded")
            self.db.set_version_status(number, "applied", now)
            if detection.shadow_version == number:
                self.stop_shadow()
        self._save(True)
        return self._version(number)

    def apply_config(self, config: DetectorsConfig, note: str, author: str) -> int:
        """Record ``config`` as a new version and make it live (hot reload); returns its number. The
        file's digest is remembered, so the next start does not apply the same file a second time."""
        digest = config.digest()
        number = self.db.add_version(
            config.model_dump(mode="json", by_alias=True),
            digest,
            "proposed",
            self.clock.now(),
            note=note,
            author=author,
        )
        self.apply(number)
        self.db.save_state("config_file", {"digest": digest}, self.clock.now())
        return number

    def start_shadow(self, number: int) -> None:
        version = self.db.version(number)
        if version is None:
            raise KeyError(number)
        config = DetectorsConfig.model_validate(version["config"])
        detection = self.detection
        with detection.lock:
            if detection.shadow_version is not None and detection.shadow_version != number:
                old = self.db.version(detection.shadow_version)
                if old and old["status"] == "shadow":
                    self.db.set_version_status(old["number"], "proposed")
            # from the live state: checks the proposal leaves unchanged start warm, with their alerts
            detection.shadow = Engine.from_dict(config, detection.engine.to_dict(), f"v{number}-shadow")
            detection.shadow_version = number
            self.db.set_version_status(number, "shadow")
        self._save(True)

    def stop_shadow(self) -> None:
        detection = self.detection
        with detection.lock:
            number = detection.shadow_version
            detection.shadow = None
            detection.shadow_version = None
            if number is not None and (self.db.version(number) or {}).get("status") == "shadow":
                self.db.set_version_status(number, "proposed")
            self.db.drop_state("shadow")

    def restore_shadow(self) -> None:
        """Resume the shadow engine saved by the last run, if its version is still in shadow mode."""
        saved = self.db.load_state("shadow")
        if not saved:
            return
        version = self.db.version(saved["version"])
        if version is None or version["status"] != "shadow":
            return
        config = DetectorsConfig.model_validate(version["config"])
        self.detection.shadow = Engine.from_dict(config, saved["engine"], f"v{version['number']}-shadow")
        self.detection.shadow_version = version["number"]


__all__ = ["DetectorVersions", "current_version", "log_fresh"]
