#!/bin/sh
# Usage: gen_py.sh OUT.py SCHEMA.proto...
# Writes a Python module listing the message names declared in the schemas.
set -eu
out=$1
shift
mkdir -p "$(dirname "$out")"
{
  echo '"""Generated from libs/proto/schema by gen_py.sh. Do not edit."""'
  echo
  echo 'MESSAGES = ('
  cat "$@" | sed -n 's/^message \([A-Za-z0-9_]*\).*/    "\1",/p'
  echo ')'
} > "$out"
