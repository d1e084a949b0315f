#!/bin/sh
# Builds bench/native's C++ REAPI read client (cache_bench.py --client native) into
# bench/.work/native/ (git-ignored). Needs Debian's (or any) gRPC C++ toolchain:
#   apt-get install g++ pkg-config libgrpc++-dev protobuf-compiler-grpc
# The REAPI and ByteStream messages come from graphkit's own protos
# (graphkit/cache/protos), so the client speaks exactly the wire format it serves.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/bench/.work/native}
protos=$root/graphkit/cache/protos
gen=$out/gen
rm -rf "$gen"
mkdir -p "$gen"
# /usr/include holds the well-known types (google/protobuf/*.proto) of libprotobuf-dev.
protoc -I "$protos" -I "$here" -I /usr/include \
  --cpp_out="$gen" --grpc_out="$gen" \
  --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
  build/bazel/remote/execution/v2/remote_execution.proto \
  build/bazel/semver/semver.proto \
  google/rpc/status.proto \
  google/bytestream/bytestream.proto \
  bare.proto
# shellcheck disable=SC2046  # pkg-config prints several flags on purpose.
g++ -O2 -std=c++17 -I "$gen" -o "$out/reapi_read.tmp" "$here/reapi_read.cc" \
  $(find "$gen" -name '*.cc') $(pkg-config --cflags --libs grpc++ protobuf)
mv "$out/reapi_read.tmp" "$out/reapi_read"
# What it was built from (cache_bench.py refuses a binary whose sources changed since):
# the files here in C-locale name order, as Python's sorted() lists them.
export LC_ALL=C
for f in "$here"/*; do
  if [ -f "$f" ]; then cat "$f"; fi
done | sha256sum | cut -d' ' -f1 > "$out/reapi_read.sources"
echo "$out/reapi_read"
