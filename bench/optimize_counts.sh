#!/usr/bin/env bash
# Node counts before/after `refit optimize` for the ONNX backend test suite's model folders
# (Debian libonnx-testdata) and any extra models given as arguments; prints one line per
# suite with totals, and one line per extra model. Optimized models are verified by
# refit optimize itself (random inputs, relative tolerance 1e-5); models it cannot verify
# (e.g. random integer inputs out of range) are counted as skipped.
#   bench/optimize_counts.sh [model.onnx ...]
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/refit
CGO_ENABLED=0 go build -o "$bin" ./cmd/refit
tmp=$(mktemp -d)
/usr/bin/python3 bench/machine.py
data=/usr/share/libonnx-testdata/data
count() { # model -> "before after" or "skip"
  "$bin" optimize "$1" "$tmp/o.onnx" --force --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["report"]; print(r["nodes_before"], r["nodes_after"])' 2>/dev/null || echo skip
}
for suite in node pytorch-converted pytorch-operator simple; do
  b=0 a=0 n=0 s=0 changed=0
  for m in "$data/$suite"/*/model.onnx; do
    read -r x y <<<"$(count "$m")"
    if [ "$x" = skip ]; then s=$((s + 1)); continue; fi
    b=$((b + x)); a=$((a + y)); n=$((n + 1)); [ "$x" != "$y" ] && changed=$((changed + 1))
  done
  echo "$suite: $n models optimized and verified ($s skipped), nodes $b -> $a, $changed models changed"
done
for m in "$@"; do
  echo "$m: nodes $(count "$m" | sed 's/ / -> /')"
done
rm -rf "$tmp" "$(dirname "$bin")"
