#!/bin/sh
# testdata/models/llm/llama-f16.gguf: llm.py's random-weight llama (byte-level BPE
# vocabulary, width 64, 2 layers, GQA) as float16 GGUF, for refit eval's script tests.
# Run from the repository root.
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 testdata/gen/llm.py build "$tmp" >/dev/null
mkdir -p testdata/models/llm
go run ./cmd/refit convert "$tmp/llama" testdata/models/llm/llama-f16.gguf --dtype f16 --force
