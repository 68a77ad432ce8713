#!/bin/sh
# Runs once, after the image's own setup (DOCKER_INFLUXDB_INIT_MODE=setup) made the org, the bucket
# and the admin token: maps the InfluxQL database "faultline" (retention policy autogen) to that
# bucket, so Faultline's reads and Grafana's InfluxQL panels find the readings. The image exports
# DOCKER_INFLUXDB_INIT_BUCKET_ID to scripts in /docker-entrypoint-initdb.d.
set -e
influx v1 dbrp create \
    --org "${DOCKER_INFLUXDB_INIT_ORG}" \
    --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
    --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
    --rp autogen \
    --default
