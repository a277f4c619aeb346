#!/usr/bin/env bash
# Generate the default training set of the benchmark protocol (shared/design.md):
#   robot domain   : 5 training tasks in the default environment, every source
#                    (expert + 6 failure sources), 6 episodes each       -> 210 clips
#   robot, new envs: the same tasks in 4 held-out environment variants,
#                    2 episodes per source (validation / generalisation)  -> 280 clips
#   alt domain     : the alternate embodiment (stands in for human video),
#                    all 50 MetaWorld tasks, 4 expert episodes each       -> 200 clips
# Resumable (re-running skips finished clips) and deterministic from --seed.
# Usage: scripts/generate_default_data.sh [OUT_DIR (default data/default)] [WORKERS (default 2)]
set -euo pipefail
OUT="${1:-data/default}"
WORKERS="${2:-2}"
TASKS=(drawer-close-v3 drawer-open-v3 button-press-v3 door-open-v3 window-open-v3)
a2r data metaworld --tasks "${TASKS[@]}" --out "$OUT/robot" --episodes-per-source 6 --workers "$WORKERS"
a2r data metaworld --tasks "${TASKS[@]}" --out "$OUT/robot_new_envs" --episodes-per-source 2 \
  --variants cam_left table_dark light_dim distractors --workers "$WORKERS" --seed 1
a2r data metaworld --tasks all --domain alt --out "$OUT/alt" --episodes-per-source 4 --workers "$WORKERS"
