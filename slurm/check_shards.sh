#!/usr/bin/env bash
# Before a merge by glob: every shard NAME.shard-0000K-of-0000N.jsonl of NAME.jsonl must exist, or the merge would
# silently drop a shard's records. Names the missing shards and the command that redoes each.
#   bash slurm/check_shards.sh runs/r1/samples.jsonl 3
set -euo pipefail
name=$1; n=$2
# the shard files' names are common.shard_path's (the one place that names them), one per line in shard order
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mapfile -t files < <("${PYTHON:-python}" -c 'import sys; sys.path.insert(0, sys.argv[1]); from common import shard_path
n = int(sys.argv[3]); print("\n".join(shard_path(sys.argv[2], k, n) for k in range(n)))' "$repo" "$name" "$n")
[[ ${#files[@]} == "$n" ]] || { echo "error: could not name the $n shards of $name with ${PYTHON:-python}" >&2; exit 1; }
missing=()
for ((k = 0; k < n; k++)); do
  [[ -f ${files[k]} ]] || missing+=("$k")
done
[[ ${#missing[@]} == 0 ]] && exit 0
cmd="the array job that writes $name"
[[ -f $name.submit ]] && cmd="PLUM_NUM_SHARDS=$n sbatch --array=K $(cat "$name.submit")"
for k in "${missing[@]}"; do
  printf 'error: shard %d of %d of %s is missing (%s); its array task failed or was ' "$k" "$n" "$name" "${files[k]}" >&2
  echo "never run. Redo it: ${cmd//--array=K/--array=$k}, then resubmit this job" >&2
done
exit 1
