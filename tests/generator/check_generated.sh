#!/usr/bin/env bash
# generated/ must hold exactly what ltgen emits now for every spec in specs/.
# Run from the repository root: tests/generator/check_generated.sh LTGEN [--update]
set -euo pipefail
ltgen="$1"
update="${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for spec in specs/*.json; do
  name=$(basename "$spec" .json)
  [[ "$name" == schema ]] && continue  # specs/schema.json is the specs' JSON Schema
  "$ltgen" "$spec" -o "$tmp/$name" --emit-only 2> "$tmp/$name.log" || { cat "$tmp/$name.log"; exit 1; }
  files=(model.hpp model.cpp main.cpp CMakeLists.txt)
  # A CUDA program (trainer.accelerator "auto" or "gpu", every layer lowered) has model_cuda.cu too.
  if [[ -f "$tmp/$name/model_cuda.cu" ]]; then files+=(model_cuda.cu); fi
  if [[ -f "$tmp/$name/user_hooks.hpp" ]]; then files+=(user_hooks.hpp); fi  # specs with a hooks file
  if [[ "$update" != "--update" && -f "generated/$name/model_cuda.cu" && ! -f "$tmp/$name/model_cuda.cu" ]]; then
    echo "generated/$name/model_cuda.cu is stale: ltgen no longer emits it; run scripts/update_generated.sh" >&2
    status=1
  fi
  if [[ "$update" == "--update" && ! -f "$tmp/$name/model_cuda.cu" ]]; then rm -f "generated/$name/model_cuda.cu"; fi
  for f in "${files[@]}"; do
    if [[ "$update" == "--update" ]]; then
      mkdir -p "generated/$name"
      cp "$tmp/$name/$f" "generated/$name/$f"
    elif ! diff -u "generated/$name/$f" "$tmp/$name/$f" > "$tmp/diff"; then
      echo "generated/$name/$f is stale; run scripts/update_generated.sh" >&2
      head -40 "$tmp/diff" >&2
      status=1
    fi
  done
done
for dir in generated/*/; do
  name=$(basename "$dir")
  [[ -f "specs/$name.json" && "$name" != schema ]] || { echo "generated/$name has no spec in specs/" >&2; status=1; }
done
exit $status
