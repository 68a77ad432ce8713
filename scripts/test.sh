#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the real servers the boundary tests start
# (Debian's mosquitto, influxdb, victoria-metrics, postgresql) and the browser the web tests drive
# (chromium), makes .venv with the Python dependencies, runs ruff and mypy, builds the docs, then
# pytest. Extra arguments go to pytest (e.g. `-k spool`, `-m "not servers"`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have mosquitto || missing+=(mosquitto)
have influxd || missing+=(influxdb)
have victoria-metrics || missing+=(victoria-metrics)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
have psql || missing+=(postgresql-client)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the browser tests drive the system browser
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# lint first: pyflakes, pycodestyle's errors and bugbear, as configured in pyproject.toml; then the
# formatting ruff format gives
.venv/bin/python -m ruff check --quiet .
.venv/bin/python -m ruff format --check --quiet .
# types: the packages listed under [tool.mypy] in pyproject.toml (strict on detectors and ticketing)
.venv/bin/python -m mypy

# the documentation site (mkdocs.yml, docs/): every page, link and anchor must build, warnings are
# errors (not --quiet: with it, mkdocs 1.6.1 does not count the anchor warnings)
NO_MKDOCS_2_WARNING=1 .venv/bin/python -m mkdocs build --strict --site-dir "$(mktemp -d)"

exec .venv/bin/python -m pytest "$@"
