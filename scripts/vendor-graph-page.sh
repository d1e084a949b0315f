#!/usr/bin/env bash
# Rebuild graphkit/views/vendor/ from the npm registry: the graph page's drawing
# library (Cytoscape.js) and its layered layout (cytoscape-dagre, which bundles
# @dagrejs/dagre), at the pinned versions below, with their licences.
# Usage: bash scripts/vendor-graph-page.sh   (needs npm; writes only the vendor folder)
set -euo pipefail
cd "$(dirname "$0")/.."

CYTOSCAPE=3.34.4
CYTOSCAPE_DAGRE=4.0.1
DAGRE=3.1.3   # the version cytoscape-dagre $CYTOSCAPE_DAGRE bundles (its devDependency)

out=graphkit/views/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "cytoscape@$CYTOSCAPE" "cytoscape-dagre@$CYTOSCAPE_DAGRE" \
  "@dagrejs/dagre@$DAGRE" >/dev/null)
for tgz in "$work"/*.tgz; do
  name=$(basename "$tgz" .tgz)
  mkdir -p "$work/$name" && tar xzf "$tgz" -C "$work/$name"
done

rm -rf "$out" && mkdir -p "$out"
cp "$work/cytoscape-$CYTOSCAPE/package/dist/cytoscape.min.js" "$out/"
cp "$work/cytoscape-dagre-$CYTOSCAPE_DAGRE/package/dist/cytoscape-dagre.min.js" "$out/"
{
  echo "Vendored by scripts/vendor-graph-page.sh from the npm registry; do not edit."
  echo
  for pkg in "cytoscape $CYTOSCAPE cytoscape-$CYTOSCAPE" \
             "cytoscape-dagre $CYTOSCAPE_DAGRE cytoscape-dagre-$CYTOSCAPE_DAGRE" \
             "@dagrejs/dagre $DAGRE dagrejs-dagre-$DAGRE"; do
    set -- $pkg
    echo "================================================================"
    echo "$1 $2 (npm)"
    echo "================================================================"
    cat "$work/$3/package/LICENSE"
    echo
  done
} > "$out/LICENSES.txt"
printf 'cytoscape %s\ncytoscape-dagre %s\n@dagrejs/dagre %s (bundled in cytoscape-dagre)\n' \
  "$CYTOSCAPE" "$CYTOSCAPE_DAGRE" "$DAGRE" > "$out/VERSIONS"
echo "wrote $out"
