#!/usr/bin/env bash
# Starts N copies of a program on this host as one NCCL world (mica's environment launch: each
# process gets MICA_RANK, MICA_WORLD_SIZE, and rank 0's address MICA_NCCL_HOST/MICA_NCCL_PORT),
# waits for all of them and exits with the first non-zero status (77, a skip, only when every
# rank skipped). Usage: launch_local.sh N program [args...]
set -u
# NVLink multicast stays off (it can take a shared host's GPUs out of service).
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
n=$1
shift
port=${MICA_NCCL_PORT:-$((20000 + $$ % 20000))}
pids=()
for ((r = 0; r < n; r++)); do
  MICA_RANK=$r MICA_WORLD_SIZE=$n MICA_NCCL_HOST=127.0.0.1 MICA_NCCL_PORT=$port "$@" &
  pids+=($!)
done
rc=0
skipped=0
for p in "${pids[@]}"; do
  wait "$p"
  s=$?
  if [ "$s" = 77 ]; then skipped=$((skipped + 1)); elif [ "$s" != 0 ] && [ "$rc" = 0 ]; then rc=$s; fi
done
if [ "$rc" = 0 ] && [ "$skipped" = "$n" ]; then rc=77; fi
exit $rc
