"""Faultline: predictive-maintenance ingestion (MQTT → spool → InfluxDB), detectors and work orders.

`faultline.vocabulary` holds the words every part uses — durations, backoff, clocks, severity,
stream keys — so that ``ingest``, ``detectors`` and ``ticketing`` share them without importing
each other.
"""
