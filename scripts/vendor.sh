#!/usr/bin/env bash
# Fetches Leaflet and its plugins from the npm registry (versions locked in package-lock.json)
# and copies their dist files into api/static/vendor/ (git-ignored), served under /static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dest=api/static/vendor
rm -rf "$dest"; mkdir -p "$dest"
cp -r node_modules/leaflet/dist "$dest/leaflet"
cp -r node_modules/leaflet.markercluster/dist "$dest/leaflet.markercluster"
cp -r node_modules/leaflet.featuregroup.subgroup/dist "$dest/leaflet.featuregroup.subgroup"
echo "vendored: $(ls "$dest" | tr '\n' ' ')"
