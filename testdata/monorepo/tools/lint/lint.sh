#!/bin/sh
# Usage: lint.sh FILE...
# Fails when a file has trailing whitespace or a tab in indentation.
set -eu
status=0
tab=$(printf '\t')
for f in "$@"; do
  if grep -n -e '[[:space:]]$' -e "^$tab" "$f" >&2; then
    echo "$f: trailing whitespace or tab indentation" >&2
    status=1
  fi
done
exit $status
