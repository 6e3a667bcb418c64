#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: headless chromium (browser
# tests of the pages), libcairo2 (SVG rendering in the QR tests), a CJK font (Chinese text on posters and figures),
# osmium-tool (network import clips OSM extracts with it) and wrk (the HTTP load generator of
# benchmarks/bench_api.py); PostGIS for the PostgreSQL 15 server these machines run
# (DATABASE_URL=postgresql://... enables the `postgis` extension) and nginx (the reverse proxy of
# deploy/, started by the deployment test itself). Needs root (CI is root).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q "libcairo.so.2" || need+=(libcairo2)  # cairosvg renders QR SVGs in tests
fc-list 2>/dev/null | grep -qi "Noto Sans CJK\|WenQuanYi" || need+=(fonts-noto-cjk fontconfig)
command -v osmium >/dev/null 2>&1 || need+=(osmium-tool)  # clips large OSM extracts, streaming (geo/extracts.py)
# PostGIS goes with the server's major version: only where a PostgreSQL 15 server is installed
if [ -x /usr/lib/postgresql/15/bin/postgres ] && [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then
  need+=(postgresql-15-postgis-3)
fi
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)  # deploy/nginx: the test runs its own
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # HTTP load generator in C: the client does not take the server's cores
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} — run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
