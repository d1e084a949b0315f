#!/usr/bin/env bash
# Install Bazel 4.2 (Debian's bazel-bootstrap) for tests/cache/server/test_bazel.py.
# Java is already on the CI image. Idempotent: does nothing when Bazel is present.
set -euo pipefail

if command -v bazel-4 >/dev/null 2>&1; then
  echo "install-bazel: $(command -v bazel-4) already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq bazel-bootstrap
command -v bazel-4
