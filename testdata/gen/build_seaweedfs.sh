#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (its S3 gateway serves the s3:// tests) from the Go module
# proxy into DIR/weed-VERSION. `go install` refuses the module (its go.mod has replace
# directives), so the module is downloaded, copied somewhere writable and built there.
# Several minutes on two cores; scripts/setup runs it once and skips it when the binary
# is there.
#   usage: build_seaweedfs.sh VERSION DIR
set -euo pipefail
version=$1
dir=$2
mkdir -p "$dir"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
# Outside any module, so Refit's go.mod and go.sum are left alone.
src=$(cd "$work" && GOFLAGS= go mod download -json "github.com/seaweedfs/seaweedfs@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] || { echo "build_seaweedfs: no module directory for $version" >&2; exit 1; }
cp -r "$src/." "$work/"
chmod -R u+w "$work"
(cd "$work" && CGO_ENABLED=0 go build -o "$dir/weed-$version.tmp" ./weed)
mv "$dir/weed-$version.tmp" "$dir/weed-$version"
