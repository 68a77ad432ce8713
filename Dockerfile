# Faultline's image: slim, runs as an unprivileged user, healthy when /readyz answers 200.
# Build: docker build -t faultline .   (docker compose up builds it for you)
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/faultline
# the package first, so a change to config/ alone does not reinstall the dependencies
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY detectors detectors
COPY ticketing ticketing
COPY simulators simulators
COPY service service
RUN pip install . && rm -rf build *.egg-info
COPY config config

RUN useradd --system --uid 10001 --home-dir /var/lib/faultline --create-home faultline
USER faultline
WORKDIR /var/lib/faultline
VOLUME /var/lib/faultline

EXPOSE 8080 9108
# no curl in the slim image: the standard library asks /readyz (503 while a dependency is down)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4).status != 200)"]

CMD ["faultline", "run", "--config", "/opt/faultline/config/faultline-compose.yaml"]
