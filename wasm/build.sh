#!/usr/bin/env bash
# Builds the WASM module and copies the matching wasm_exec.js beside it.
# Usage: wasm/build.sh [OUT_DIR]   (default web/dist, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-web/dist}"
mkdir -p "$out"
GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o "$out/cosmic.wasm" ./wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$out/wasm_exec.js"
echo "$out/cosmic.wasm: $(wc -c <"$out/cosmic.wasm") bytes, $(gzip -9 -c "$out/cosmic.wasm" | wc -c) gzipped"
