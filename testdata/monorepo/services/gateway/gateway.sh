#!/bin/sh
# Usage: gateway.sh PATH
# Prints the upstream that serves PATH, per routes.conf; exits 3 when none does.
set -eu
here=$(dirname "$0")
path=$1
while read -r prefix upstream; do
  case $prefix in
    ''|'#'*) continue ;;
  esac
  case $path in
    "$prefix"|"$prefix"/*) echo "$upstream"; exit 0 ;;
  esac
done < "$here/routes.conf"
echo "no route for $path" >&2
exit 3
