#!/bin/sh
# Passes (exit 0) when gateway.sh routes as routes.conf says.
set -eu
gw="$(dirname "$0")/gateway.sh"
[ "$(sh "$gw" /items/blue-mug)" = "web:8080" ]
[ "$(sh "$gw" /healthz)" = "local" ]
if sh "$gw" /admin 2>/dev/null; then
  echo "FAIL: /admin should have no route" >&2
  exit 1
fi
echo "ok"
