#!/usr/bin/env bash
# Regenerates the README's real TF-family model table: runs the interop tests that
# convert real TF.js graph, TF.js layers, TFLite and Keras models (every model, not the
# CI subsets) with REFIT_TF_TABLE set, so each appends one JSON row per model, then
# renders the rows with internal/tftable.
#   testdata/gen/tf_table.sh [out.md]      (default: tf_table.md; about 10 minutes on 2 cores)
# Needs what scripts/setup fetches: node_modules (TF.js, tfjs-tflite, LiteRT.js,
# onnxruntime-node, the MediaPipe packages, nsfwjs), testdata/cache/human-models
# (testdata/gen/human_models.sh), the InVesalius model (testdata/gen/fetch_keras_models.sh),
# and Debian's python3-torch for the PyTorch column.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-tf_table.md}")
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
export REFIT_TF_TABLE="$rows" REFIT_HUMAN_ALL=1 REFIT_REQUIRE_TOOLS=1
status=0
go test -count=1 -timeout 60m -run 'TestHumanModels' ./interop/tfjsgraph || status=1
go test -count=1 -timeout 30m -run 'TestMediaPipeVsTFLite' ./interop/tflite || status=1
go test -count=1 -timeout 30m -run 'TestRealModels|TestKerasRealModels' ./interop/tfjs || status=1
go run ./internal/tftable "$rows" > "$out"
tail -1 "$out"
exit $status
