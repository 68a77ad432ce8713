"""The wiring: settings, the service that connects ingest, detectors and ticketing, and the CLI.

Imports point one way: ``service`` imports ``ingest``, ``detectors``, ``ticketing`` and
``simulators``; none of those import ``service`` or each other.
"""
