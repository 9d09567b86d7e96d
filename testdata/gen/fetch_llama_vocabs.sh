#!/usr/bin/env bash
# Extracts llama.cpp's vocab-only GGUF files and their tokenizer test vectors
# (models/ggml-vocab-*.gguf, .gguf.inp, .gguf.out) from the llama.cpp source that
# node-llama-cpp ships as a git bundle, into testdata/llamacpp-vocab/ (gitignored).
# Quiet and quick when the cache is already filled from the same bundle.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
out="$root/testdata/llamacpp-vocab"
if [ ! -f "$bundle" ]; then
  echo "fetch_llama_vocabs: $bundle missing (npm install first)" >&2
  exit 1
fi
stamp="$(sha256sum "$bundle" | cut -c1-16)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-checkout "$bundle" "$tmp/llama.cpp"
mkdir -p "$out"
# only the vocabulary files: read them from the bundle's HEAD without a checkout
git -C "$tmp/llama.cpp" ls-tree --name-only HEAD models/ | grep '/ggml-vocab-' | while read -r f; do
  git -C "$tmp/llama.cpp" show "HEAD:$f" > "$out/$(basename "$f")"
done
echo "$stamp" > "$out/.stamp"
echo "fetch_llama_vocabs: $(ls "$out" | wc -l) files in $out"
