#!/usr/bin/env bash
# Fetches Leaflet, its plugins and Swagger UI (for /docs, offline) from the npm registry (versions locked in package-lock.json)
# and copies their dist files into api/static/vendor/ (git-ignored), served under /static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCARF_ANALYTICS=false  # swagger-ui-dist depends on @scarf/scarf: no install-time analytics
npm ci --no-audit --no-fund --loglevel=error
dest=api/static/vendor
rm -rf "$dest"; mkdir -p "$dest"
cp -r node_modules/leaflet/dist "$dest/leaflet"
cp -r node_modules/leaflet.markercluster/dist "$dest/leaflet.markercluster"
cp -r node_modules/leaflet.featuregroup.subgroup/dist "$dest/leaflet.featuregroup.subgroup"
mkdir -p "$dest/swagger-ui"
cp node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png,LICENSE} "$dest/swagger-ui/"
echo "vendored: $(ls "$dest" | tr '\n' ' ')"
