#!/bin/sh
# Regenerates refit_onnx.pb.go from refit_onnx.proto.
# Needs protoc (Debian protobuf-compiler) and
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -eu
cd "$(dirname "$0")"
PATH="$(go env GOPATH)/bin:$PATH" protoc --go_out=. --go_opt=paths=source_relative refit_onnx.proto
