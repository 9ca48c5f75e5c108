#!/bin/sh
# Export one commit of this checkout (default HEAD) into .cache/bench-tree/<commit>, with this checkout's
# bench/, .venv and vendored collections, and print its path. The benchmarks then measure that commit's
# code even while the working tree is being edited:
#     tree=$(bench/snapshot.sh HEAD) && PYTHONPATH="$tree/src" .venv/bin/python "$tree/bench/restart.py"
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rev=$(git -C "$root" rev-parse --short "${1:-HEAD}")
tree="$root/.cache/bench-tree/$rev"
if [ ! -e "$tree/.collections" ]; then  # an existing tree is kept (a benchmark may be running in it)
    mkdir -p "$tree.part"
    git -C "$root" archive "$rev" | tar -x -C "$tree.part"
    ln -s "$root/.venv" "$tree.part/.venv"
    mkdir -p "$tree.part/.collections/ansible_collections/incident"
    for vendored in "$root"/.collections/ansible_collections/*; do
        [ "$(basename "$vendored")" = incident ] || ln -s "$vendored" "$tree.part/.collections/ansible_collections/"
    done
    ln -s ../../.. "$tree.part/.collections/ansible_collections/incident/remediation"
    mv "$tree.part" "$tree"
fi
cp "$root"/bench/*.py "$root"/bench/*.sh "$tree/bench/"  # the benchmarks of this checkout, on that commit
echo "$tree"
