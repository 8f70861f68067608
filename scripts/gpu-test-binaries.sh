#!/usr/bin/env bash
# Builds the GPU tests and copies their executables into the folder given: the library's tests
# (the kernel on the GPU), tests/gpu.rs (the CUDA provider) and tests/accuracy.rs (keypoints on
# the GPU against the CPU). Used by bundle.sh (BUNDLE_TESTS=1) and gpu-check.sh.
set -euo pipefail
dest="${1:?usage: gpu-test-binaries.sh DEST}"
mkdir -p "$dest"
cd "$(dirname "$0")/.."
cargo test --release --lib --test accuracy --test gpu --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' \
    | while read -r exe; do install -m 755 "$exe" "$dest/"; done
