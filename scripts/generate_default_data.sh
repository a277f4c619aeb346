#!/usr/bin/env bash
# Generate the default training and test sets of the benchmark protocol (shared/design.md).
#   robot          : 5 training tasks in the default environment, every source
#                    (expert + 6 failure sources), 20 episodes each           -> 700 clips
#   robot_new_envs : the same tasks in 4 held-out environment variants,
#                    2 episodes per source (validation: checkpoint selection)  -> 280 clips
#   alt            : the alternate embodiment (stands in for human video), all 50 MetaWorld
#                    tasks, expert only, in 5 looks that are NOT the held-out ones -> 500 clips
#   test_seen      : training tasks, default environment, new seeds             -> 70 clips
#   test_new_envs  : training tasks, the 4 held-out variants, new seeds         -> 140 clips
#   test_new_tasks : 5 tasks the robot never trained on (alt domain only), default env -> 70 clips
#   test_new_tasks_2: 5 other such tasks, seeds apart (a second new-task set)      -> 70 clips
# The test_* sets are never used for training or selection; `a2r eval` reports on them.
# Resumable (re-running skips finished clips) and deterministic from the seeds below.
# Usage: scripts/generate_default_data.sh [OUT_DIR (default data/default)] [WORKERS (default 2)]
set -euo pipefail
OUT="${1:-data/default}"
WORKERS="${2:-2}"
TASKS=(drawer-close-v3 drawer-open-v3 button-press-v3 door-open-v3 window-open-v3)
NEW_TASKS=(button-press-topdown-v3 door-close-v3 window-close-v3 faucet-open-v3 handle-press-v3)
NEW_TASKS_2=(faucet-close-v3 handle-pull-v3 plate-slide-v3 coffee-button-v3 door-lock-v3)
HELD_OUT=(cam_left table_dark light_dim distractors)
ALT_LOOKS=(default table_white light_bright cam_high floor_blue)
a2r data metaworld --tasks "${TASKS[@]}" --out "$OUT/robot" --episodes-per-source 20 --workers "$WORKERS"
a2r data metaworld --tasks "${TASKS[@]}" --out "$OUT/robot_new_envs" --episodes-per-source 2 \
  --variants "${HELD_OUT[@]}" --workers "$WORKERS" --seed 1
a2r data metaworld --tasks all --domain alt --out "$OUT/alt" --episodes-per-source 2 \
  --variants "${ALT_LOOKS[@]}" --workers "$WORKERS"
a2r data metaworld --tasks "${TASKS[@]}" --out "$OUT/test_seen" --episodes-per-source 2 \
  --workers "$WORKERS" --seed 2
a2r data metaworld --tasks "${TASKS[@]}" --out "$OUT/test_new_envs" --episodes-per-source 1 \
  --variants "${HELD_OUT[@]}" --workers "$WORKERS" --seed 3
a2r data metaworld --tasks "${NEW_TASKS[@]}" --out "$OUT/test_new_tasks" --episodes-per-source 2 \
  --workers "$WORKERS" --seed 4
a2r data metaworld --tasks "${NEW_TASKS_2[@]}" --out "$OUT/test_new_tasks_2" --episodes-per-source 2 \
  --workers "$WORKERS" --seed 5
