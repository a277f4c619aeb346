"""Every command and snippet of README.md and docs/*.md, run as a user of a pip-only checkout runs
it, so the docs cannot drift from the code.

Each shell command and Python block found by `doc_snippets.extract` must be in RUN (it runs here,
maybe on small stand-ins for the user's own files, with a stated substitution) or SKIP (with the
reason). `test_every_doc_command_is_in_a_table` fails on a new or changed doc command that is in
neither, and on a table entry whose command left the docs. The runs are `slow` (CI runs them).

Where a command names the user's own files (a bag, a checkpoint folder, a video folder, an eval
config), a small stand-in with that very name is made in the command's folder (USER_FILES says
what each is), so the command runs exactly as printed. Placeholders that cannot be a file name
(`/path/to/ckpt`) and long runs are changed by explicit substitutions, each with its reason.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from doc_snippets import ROOT, Snippet, extract, make_checkout, run_python, run_shell, serve

CKPT = "checkpoints/a2r-small-metaworld"


@dataclass(frozen=True)
class Run:
    """How to run one doc command / snippet: `sub` exact text replacements (with `why`), `setup`
    shell commands run first in the same folder, `serve` regexes that show a command that runs
    until Ctrl-C is up (it is then interrupted, and must exit 0), `expect` regexes its output
    must match, `prelude` Python run before a snippet that continues an earlier one."""

    why: str = ""
    sub: tuple[tuple[str, str], ...] = ()
    setup: tuple[str, ...] = ()
    serve: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    prelude: str = ""
    needs_module: str = ""
    after: tuple[str, str] | None = None  # a PY_RUN key: that doc block runs first, in the same folder
    timeout: float = 240


SYSTEM_ROS = "needs a system ROS 2 install (/opt/ros, colcon workspace, ros2cli): not a pip-only machine"
ROS2CLI = "needs the `ros2` command (ros2cli/launch), which the PyPI wheels lack; the pip-only equivalent is run"
# The same exact command runs in another test, through the CLI, with the same arguments.
COVERED = "runs in {} (the same command through a2r's CLI) and takes minutes; not repeated here"

SKIP: dict[str, str] = {
    "make demo": "the main job (2 min of setup on a fresh clone, then about a minute); "
                 "test/demo/test_demo.py runs `a2r demo` in its short form",
    "make test": "the whole test suite, this test included",
    "source /opt/ros/$ROS_DISTRO/setup.bash": SYSTEM_ROS,
    "mkdir -p ~/a2r_ws/src && cd ~/a2r_ws/src && git clone <this repository> a2r": SYSTEM_ROS,
    "python3 -m pip install -r a2r/requirements.txt": SYSTEM_ROS,
    "cd ~/a2r_ws && colcon build --packages-select a2r_ros": SYSTEM_ROS,
    "source install/setup.bash": SYSTEM_ROS + " (scripts/env.sh sources it here)",
    "ros2 run a2r_ros reward_monitor": ROS2CLI + " (`a2r ros monitor`)",
    'ros2 launch a2r_ros reward.launch.py checkpoint:=$PWD/checkpoints/a2r-small-metaworld '
    'camera_topic:=/camera/color/image_raw instruction:="open the drawer"': ROS2CLI + " (`a2r ros up`)",
    'ros2 run a2r_ros score_bag BAG --topic /camera/image_raw --instruction "..." --checkpoint CKPT_DIR '
    '--out scores/': ROS2CLI + "; test/bags/test_score_bag.py runs the installed score_bag executable",
    'ros2 launch a2r_ros reward.launch.py camera_topic:=/camera/image_raw instruction:="open the drawer" '
    'checkpoint:=/path/to/checkpoint [device:=cuda:0] [rate:=5] [namespace:=robot1]': ROS2CLI,
    "ros2 run a2r_ros reward_node --ros-args --params-file config/reward.yaml -p checkpoint:=/path/to/ckpt": ROS2CLI,
    'ros2 service call /a2r/query_reward a2r_ros/srv/QueryReward "{}"': ROS2CLI,
    'ros2 launch a2r_ros sim_eval.launch.py checkpoint:=DIR task:=drawer-close-v3 instruction:="close the drawer"':
        ROS2CLI + " (`a2r ros up --config config/sim_eval.yaml`)",
    "ros2 run a2r_ros metaworld_bridge --ros-args -p task:=drawer-close-v3 -p variant:=cam_left+table_dark": ROS2CLI,
    "ros2 run a2r_ros pybullet_bridge --ros-args -p task:=push_left -p variant:=viewpoint+distractors": ROS2CLI,
    'ros2 run a2r_ros planner_node --ros-args -p instruction:="close the drawer" -p horizon:=8': ROS2CLI,
    "a2r data metaworld --tasks all --domain alt --out data/mw_alt --episodes-per-source 3 --workers 2":
        "150 clips of all 50 tasks (minutes); the same command on 2 tasks, 1 episode each, runs below",
    "a2r eval --profile quick --out runs/eval_quick": COVERED.format(
        "test/eval/test_benchmark.py::test_quick_profile_end_to_end"),
    "a2r eval --profile full --out runs/eval_full": "the full benchmark: hours, and data/default first",
    "a2r bench": "every section at full size: about 10 minutes",
    "a2r bench --quick": COVERED.format(
        "test/bench/test_bench_cli.py::test_quick_run_prints_every_section_and_writes_json_and_png"),
    "a2r bench --sections gemm,model --out runs/bench/model-only":
        "full-size GEMM and model rows (minutes on 2 cores); test/bench/test_bench_cli.py runs "
        "--sections with --out at quick sizes",
    "a2r bench --sections node --soak": "a 10-minute stream by design",
    "a2r bench --checkpoint runs/train/best": "every section at full size (10 minutes) on a trained checkpoint",
    "scripts/generate_default_data.sh": "the benchmark's data set: about 8 minutes",
    "a2r train --config config/train_progress.yaml --output runs/progress": "about 40 minutes of training",
    "a2r train --config config/train_branches.yaml --output runs/branches": "about 40 minutes of training",
    "a2r data branches --tasks drawer-close-v3 drawer-open-v3 button-press-v3 door-open-v3 window-open-v3 "
    "--out data/default/robot_branches --workers 2": "400 pairs (about 2 minutes); the same command on 2 tasks, "
                                                      "1 episode each, runs above (docs/data.md)",
    "a2r eval --config config/eval_planning.yaml --out runs/eval_planning": "the planning benchmark: hours",
    "a2r eval --config config/eval_planning.yaml --rows a2r+branches oracle random --out runs/eval_branches":
        "three rows of the planning benchmark: 25 minutes; --rows runs in test/eval/test_rows.py",
    "a2r eval --config config/eval_planning.yaml --rows a2r+loop --out runs/eval_loop":
        "one learned row of the planning benchmark: 15-25 minutes",
    "a2r data planner --checkpoint runs/branches/best --tasks drawer-close-v3 drawer-open-v3 button-press-v3 "
    "door-open-v3 window-open-v3 --seeds 10 11 12 13 14 15 16 17 --max-steps 30 --out data/default/robot_planner":
        "40 MPC episodes (11 minutes) on a trained checkpoint; the command runs on one episode in docs/data.md",
    "a2r train --config config/train_loop.yaml --output runs/loop": "about 40 minutes of training",
    "a2r data metaworld --tasks faucet-close-v3 handle-pull-v3 plate-slide-v3 coffee-button-v3 door-lock-v3 "
    "--out data/default/test_new_tasks_2 --episodes-per-source 2 --workers 2 --seed 5":
        "the last line of scripts/generate_default_data.sh (data/default); a2r data metaworld runs in docs/data.md",
    "a2r data planner --checkpoint runs/loop/best --tasks drawer-close-v3 drawer-open-v3 button-press-v3 "
    "door-open-v3 window-open-v3 --seeds 18 19 20 21 22 23 24 25 26 27 28 29 --max-steps 30 "
    "--out data/default/robot_planner2":
        "60 MPC episodes (20 minutes) on a trained checkpoint; the command runs on one episode in docs/data.md",
    "a2r eval --config config/eval_planning.yaml --rows a2r+loop2 --out runs/eval_loop2":
        "one learned row of the planning benchmark: 15 minutes; --rows runs in test/eval/test_rows.py",
    "a2r eval --config config/eval_instructions.yaml --out runs/eval_instructions":
        "every given checkpoint on the offline columns: 16 minutes and data/default; the columns run in "
        "test/eval/test_metaworld.py",
    "a2r data planner --checkpoint runs/loop2/best --tasks drawer-open-v3 button-press-v3 door-open-v3 "
    "window-open-v3 --seeds 30 31 32 33 34 35 36 37 38 39 --max-steps 30 --out data/default/robot_planner3":
        "40 MPC episodes (15-25 minutes) on a trained checkpoint; the command runs on one episode in docs/data.md",
    "a2r train --config config/train_loop3.yaml --output runs/loop3":
        "fine-tunes runs/loop2/best (15 minutes); init_from through the CLI runs in "
        "test/core/test_train.py::test_init_from_starts_from_the_checkpoints_weights_and_refuses_a_mismatch",
    "a2r eval --config config/eval_planning.yaml --rows a2r+loop3 --out runs/eval_loop3":
        "one learned row of the planning benchmark: 15 minutes; --rows runs in test/eval/test_rows.py",
    "a2r data interventions --from data/default/robot_planner2/manifest.jsonl "
    "data/default/robot_planner3/manifest.jsonl --out data/default/robot_interventions --branches 4 --workers 2":
        "376 pairs (3 minutes) from the planner attempts of rounds 2 and 3 (data/default); the command runs on "
        "one attempt in docs/data.md",
    "a2r train --config config/train_loop4.yaml --output runs/loop4":
        "fine-tunes runs/loop3/best (17 minutes); init_from through the CLI runs in "
        "test/core/test_train.py::test_init_from_starts_from_the_checkpoints_weights_and_refuses_a_mismatch",
    "a2r eval --config config/eval_planning.yaml --rows a2r+loop3+interventions a2r+loop3 --out runs/eval_loop4":
        "two learned rows of the planning benchmark: 25 minutes; --rows runs in test/eval/test_rows.py",
    "a2r data planner --checkpoint runs/loop4/best --tasks drawer-open-v3 button-press-v3 door-open-v3 "
    "window-open-v3 --seeds 40 41 42 43 44 45 46 47 48 49 --max-steps 30 --out data/default/robot_planner4":
        "40 MPC episodes (10 minutes) on a trained checkpoint; the command runs on one episode in docs/data.md",
    "a2r data interventions --from data/default/robot_planner4/manifest.jsonl --out data/default/robot_interventions2 "
    "--branches 4 --workers 2": "160 pairs (2 minutes) from round 4's attempts (data/default); the command runs on "
                                "one attempt in docs/data.md",
    "a2r train --config config/train_loop5.yaml --output runs/loop5":
        "fine-tunes runs/loop4/best (17 minutes); init_from through the CLI runs in "
        "test/core/test_train.py::test_init_from_starts_from_the_checkpoints_weights_and_refuses_a_mismatch",
    "a2r eval --config config/eval_planning.yaml --rows a2r+loop4+interventions --out runs/eval_loop5":
        "one learned row of the planning benchmark: 13 minutes; --rows runs in test/eval/test_rows.py",
    "a2r train --config config/train_taskbank.yaml --output runs/taskbank":
        "fine-tunes the shipped default on data/default and the planner/intervention sets (27 minutes); "
        "loss.vlc_task_bank trains in test/core/test_train.py",
    "a2r eval --config config/eval_instructions.yaml --rows a2r+loop4+interventions+taskbank "
    "a2r+loop4+interventions@grounded --out runs/eval_instructions4":
        "needs runs/taskbank/best and data/default (4 minutes); --rows runs in test/eval/test_rows.py",
    "a2r eval --checkpoint checkpoints/a2r-small-metaworld --data data/default/alt --canonical-instructions "
    "--out runs/alt_shipped":
        "500 clips of data/default/alt (3 minutes); --checkpoint runs in test/eval/test_eval_checkpoint.py",
    "a2r eval --config config/eval_instructions.yaml --rows a2r+loop4+interventions@grounded a2r "
    "no_failure_data bce_only oracle random --out runs/eval_instructions3":
        "trains no_failure_data and bce_only (22 minutes) and scores the given checkpoints: 27 minutes and "
        "data/default; both objectives train in test/core/test_train.py, --rows runs in test/eval/test_rows.py",
    "a2r eval --config config/eval_instructions.yaml --out runs/eval_instructions2":
        "every given checkpoint on the offline columns (ROW@grounded rows too): 15 minutes and data/default; "
        "the columns run in test/eval/test_metaworld.py, @MODE rows in test/eval/test_rows.py",
    "a2r data planner --checkpoint runs/loop5/best --tasks drawer-open-v3 button-press-v3 door-open-v3 "
    "window-open-v3 --seeds 50 51 52 53 54 55 56 57 58 59 --max-steps 30 --out data/default/robot_planner5":
        "40 MPC episodes (15 minutes) on a trained checkpoint; the command runs on one episode in docs/data.md",
    "a2r data interventions --from data/default/robot_planner5/manifest.jsonl --out data/default/robot_interventions3 "
    "--branches 4 --workers 2": "160 pairs (2 minutes) from round 5's attempts (data/default); the command runs on "
                                "one attempt in docs/data.md",
    "a2r train --config config/train_loop6.yaml --output runs/loop6":
        "fine-tunes runs/loop5/best (16 minutes); init_from through the CLI runs in "
        "test/core/test_train.py::test_init_from_starts_from_the_checkpoints_weights_and_refuses_a_mismatch",
    "a2r eval --config config/eval_planning.yaml --rows a2r+loop5+interventions@grounded a2r+loop5+interventions "
    "a2r+loop4+interventions@grounded --out runs/eval_loop6":
        "three learned rows of the planning benchmark: 34 minutes; --rows and @MODE rows run in test/eval/test_rows.py",
    "a2r train --config config/train_loop2.yaml --output runs/loop2":
        "fine-tunes runs/loop/best (15-20 minutes); init_from through the CLI runs in "
        "test/core/test_train.py::test_init_from_starts_from_the_checkpoints_weights_and_refuses_a_mismatch",
    "a2r train --config config/train_synthetic.yaml --output runs/synthetic": COVERED.format(
        "test/core/test_train.py::test_synthetic_dataset_is_learned"),
    "a2r train --config config/train_synthetic.yaml --output runs/synthetic --resume":
        "needs the run above; --resume through the CLI runs in "
        "test/core/test_train.py::test_cli_train_writes_checkpoints_logs_and_plot",
    "a2r train --config config/train_synthetic.yaml --output runs/long --epochs 20":
        "20 epochs of the run above (minutes); --epochs through the CLI runs in "
        "test/core/test_train.py::test_cli_train_writes_checkpoints_logs_and_plot",
    "a2r data metaworld --tasks drawer-close-v3 button-press-v3 --out runs/mw_small --episodes-per-source 2 "
    "--workers 2": "docs/data.md's first command with another --out (that one runs, 1 episode per source)",
    "a2r eval --checkpoint checkpoints/a2r-small-metaworld --data runs/mw_small --out runs/eval_mw_small": COVERED.format(
        "test/eval/test_eval_checkpoint.py::test_shipped_checkpoint_on_generated_clips (the shipped checkpoint "
        "on freshly generated clips of these tasks)"),
    "ros2 run a2r_ros reward_node --ros-args -p checkpoint:=/path/to/ckpt -p autostart:=false": ROS2CLI,
    "ros2 lifecycle set /reward_node configure": ROS2CLI + " (the pip-only lifecycle script runs)",
    "ros2 lifecycle set /reward_node activate": ROS2CLI + " (the pip-only lifecycle script runs)",
    "ros2 lifecycle get /reward_node": ROS2CLI,
    "ros2 lifecycle set /reward_node deactivate": ROS2CLI,
    "torchrun --standalone --nproc_per_node 2 -m a2r_core.cli train --config config/train_synthetic.yaml "
    "--output runs/ddp": "two training processes for minutes; torchrun with this module runs in "
                         "test/core/test_train.py::test_torchrun_two_processes_on_cpu (a tiny config)",
}

REWARD_UP = r"\[reward_node\].*scoring "
RUN: dict[str, Run] = {
    "source scripts/env.sh": Run(),
    "a2r --help": Run(expect=(r"score-bag", r"ros")),
    "a2r ros up --set checkpoint=checkpoints/a2r-small-metaworld --set camera_topic=/camera/color/image_raw "
    "--set instructions=\"['open the drawer']\"": Run(
        serve=(REWARD_UP + r"/camera/color/image_raw .*\['open the drawer'\]",)),
    "a2r ros monitor": Run(serve=("",)),
    'a2r score-bag my_run_bag --topic /camera/image_raw --instruction "open the drawer" --checkpoint '
    "checkpoints/a2r-small-metaworld --out scored/ --output-bag scored/with_rewards": Run(
        expect=(r"-> scored, scored/with_rewards",)),
    'a2r score-bag BAG --topic /camera/image_raw --instruction "push the red block to the right" '
    '--instruction "open the drawer" --checkpoint CKPT_DIR --out scores/ [--output-bag scored_bag/]': Run(
        why="the optional part given", sub=(("[--output-bag scored_bag/]", "--output-bag scored_bag/"),)),
    'a2r score-bag BAG --topic /cam_left/image_raw --topic /cam_right/image_raw --instruction "open the drawer" '
    "--checkpoint CKPT_DIR --out scores/ --output-bag scores/with_rewards": Run(
        expect=(r"/cam_left/image_raw, /cam_right/image_raw",)),
    "a2r data metaworld --tasks drawer-close-v3 button-press-v3 --out data/mw --episodes-per-source 5 --workers 2":
        Run(why="1 episode per source instead of 5 (14 clips, not 70)",
            sub=(("--episodes-per-source 5", "--episodes-per-source 1"),)),
    "a2r data metaworld --tasks drawer-close-v3 --out data/mw --variants cam_left table_dark light_dim distractors":
        Run(why="1 episode per source (the default is 5: 140 clips)", sub=(("--variants", "--episodes-per-source 1 --variants"),)),
    "a2r data branches --tasks drawer-close-v3 button-press-v3 --out data/mw_branches --episodes 5 --workers 2":
        Run(why="1 episode per task instead of 5 (8 pairs, not 40)", sub=(("--episodes 5", "--episodes 1"),),
            expect=(r"generated 8 pairs",)),
    "a2r data planner --checkpoint checkpoints/a2r-small-metaworld --tasks drawer-close-v3 --seeds 10 11 "
    "--max-steps 30 --out data/mw_planner": Run(
        why="one start seed and 3 planning actions (a 30-action episode takes about 15 s)",
        sub=(("--seeds 10 11 --max-steps 30", "--seeds 10 --max-steps 3"),), expect=(r"ran 1 MPC episodes",)),
    "a2r data interventions --from data/mw_planner/manifest.jsonl --out data/mw_interventions --branches 3": Run(
        why="its input made first: docs/data.md's `a2r data planner` example on one seed, 3 actions (a failure)",
        setup=("a2r data planner --checkpoint checkpoints/a2r-small-metaworld --tasks drawer-close-v3 --seeds 10 "
               "--max-steps 3 --out data/mw_planner --no-progress",), expect=(r"generated 3 pairs",)),
    "a2r eval --config my_eval.yaml --out runs/eval_mine [--no-progress]": Run(
        why="the optional part given", sub=(("[--no-progress]", "--no-progress"),)),
    "a2r ros up --config config/reward.yaml --set checkpoint=/path/to/ckpt [--set instructions=\"['open the drawer', "
    "'close the drawer']\"] [--namespace robot1] [--ros-args --log-level debug]": Run(
        why="the shipped checkpoint for /path/to/ckpt, every optional part given",
        sub=(("/path/to/ckpt", CKPT), ("[--set", "--set"), ("']\"]", "']\""), ("[--namespace robot1]", "--namespace robot1"),
             ("[--ros-args --log-level debug]", "--ros-args --log-level debug")),
        serve=(REWARD_UP + r".*\['open the drawer', 'close the drawer'\]",)),
    "source scripts/env.sh\npython -m a2r_ros.camera_stream count --topic camera/image_raw --frames 180 --idle 8 &\n"
    "python -m a2r_ros.camera_stream publish --topic camera/image_raw --size 640x480 --frames 180\nwait": Run(
        expect=(r'"received"',)),
    "a2r ros up --config config/sim_eval.yaml --set checkpoint=/path/to/checkpoint": Run(
        why="the shipped checkpoint for /path/to/checkpoint", sub=(("/path/to/checkpoint", CKPT),),
        serve=(REWARD_UP, r"\[planner_node\].*MPC", r"\[metaworld_bridge\].*MetaWorld")),
    "a2r ros up --config config/sim_eval.yaml --set checkpoint=DIR --set metaworld_bridge.task=drawer-close-v3 "
    "--set \"instruction=close the drawer\" --set \"reward_node.instructions=['close the drawer']\"": Run(
        serve=(REWARD_UP + r".*\['close the drawer'\]", r"\[metaworld_bridge\].*MetaWorld drawer-close-v3",
               r"\[planner_node\].*'close the drawer'")),
    "a2r ros up --config config/sim_eval.yaml --set checkpoint=checkpoints/a2r-small-metaworld "
    "--set metaworld_bridge.task=drawer-close-v3 --set \"instruction=close the drawer\" "
    "--set \"reward_node.instructions=['close the drawer']\"": Run(
        serve=(REWARD_UP + r".*\['close the drawer'\]", r"\[metaworld_bridge\].*MetaWorld drawer-close-v3",
               r"\[planner_node\].*'close the drawer'")),
    "a2r eval --checkpoint checkpoints/a2r-small-metaworld --data runs/my_clips --out runs/eval_my_clips": Run(
        why="after the doc's Python block that writes runs/my_clips",
        after=("docs/evaluation.md", 'root = Path("runs/my_clips")'), expect=(r"\| all \| 6 \|",)),
    "source scripts/env.sh\na2r ros up --set checkpoint=checkpoints/a2r-small-metaworld --set autostart=false &\n"
    "python - <<'PY'\nimport rclpy\nfrom lifecycle_msgs.msg import Transition\nfrom lifecycle_msgs.srv import "
    "ChangeState\n\nrclpy.init()\nnode = rclpy.create_node(\"lifecycle_client\")\nclient = node.create_client("
    "ChangeState, \"/reward_node/change_state\")\nassert client.wait_for_service(timeout_sec=60.0), \"no "
    "/reward_node/change_state\"\nfor transition in (Transition.TRANSITION_CONFIGURE, "
    "Transition.TRANSITION_ACTIVATE):\n    future = client.call_async(ChangeState.Request(transition=Transition("
    "id=transition)))\n    rclpy.spin_until_future_complete(node, future, timeout_sec=120.0)\n    print(transition, "
    "\"ok\" if future.result().success else \"failed (see the node's log)\")\nnode.destroy_node()\n"
    "rclpy.shutdown()\nPY\nkill -INT $!\nwait": Run(expect=(r"(?m)^1 ok$", r"(?m)^3 ok$")),
    "a2r ros up --config config/sim_eval.yaml --set checkpoint=DIR --set reward_source=oracle": Run(
        serve=(r"\[planner_node\].*reward oracle", r"\[metaworld_bridge\].*MetaWorld", REWARD_UP)),
}

# Python blocks: (doc, a piece of text that names the block) -> Run or a skip reason.
PY_RUN: dict[tuple[str, str], Run | str] = {
    ("README.md", "A2RRewardWrapper(make_metaworld_env"): Run(expect=(r"fresh",)),
    ("docs/bags.md", 'score_bag("my_bag"'): Run(),
    ("docs/data.md", "SomethingSomethingDataset("): Run(
        why="a small data/mw made first (1 expert clip)",
        setup=("a2r data metaworld --tasks drawer-close-v3 --sources expert --episodes-per-source 1 "
               "--out data/mw --no-progress",)),
    ("docs/model.md", "rm.score(clips"): Run(
        why="the shipped checkpoint for runs/train/best; `clips` made first (2 random clips)",
        sub=(('"runs/train/best"', f'"{CKPT}"'),),
        prelude="import numpy as np\nclips = np.random.default_rng(0).integers(0, 256, (2, 8, 112, 112, 3), "
                "dtype=np.uint8)\n"),
    ("docs/planning.md", "class RolloutModel(Protocol)"): Run(
        why="the names it uses imported first", prelude="from typing import Any, Protocol\nimport numpy as np\n"),
    ("docs/planning.md", "RolloutPool(MetaWorldModelFactory"): Run(
        why="continues the example below: its planner parts made first (inside the main guard), "
            "then one MPC step through the pool",
        prelude="from a2r_core.planning import CEMConfig, CEMPlanner, ClipRewardScorer, run_mpc\n",
        sub=(("    with RolloutPool(",
              f'    from a2r_core.reward import RewardModel\n    reward = RewardModel.load("{CKPT}")\n'
              '    model = MetaWorldModelFactory("drawer-close-v3", image_size=64, seed=300)()\n'
              "    scorer = ClipRewardScorer(reward.reward_for, model.instruction)\n    with RolloutPool("),
             ("pool=pool)   # same results, over 2 cores",
              "pool=pool)   # same results, over 2 cores\n        run_mpc(model, planner, max_steps=1)\n"
              "    model.env.close()"))),
    ("docs/planning.md", "run_mpc(model, planner"): Run(
        why="1 planning action instead of 42 (each is 48 candidate rollouts)",
        sub=(("max_steps=42", "max_steps=1"),)),
    ("docs/planning.md", "planner_view(reward.reward_for"): Run(
        why="3 points of 11 candidates instead of 9 of 32 (the documented size takes minutes)",
        sub=(("seeds=[500])", "seeds=[500], points=3, population=11)"),)),
    ("docs/pybullet.md", "run_episode(env"): Run(expect=(r"\(8, 112, 112, 3\)",)),
    ("docs/rl.md", "for step in range(1, 101)"): Run(expect=(r"step \d+: reward",)),
    ("docs/rl.md", 'config = A2RRewardConfig(instruction="open the drawer", terminate_threshold'): Run(),
    ("docs/rl.md", "A2RVectorRewardWrapper(envs"): Run(expect=(r"a2r rewards",)),
    ("docs/rl.md", "from stable_baselines3 import PPO"): Run(needs_module="stable_baselines3"),
    ("docs/evaluation.md", 'root = Path("runs/my_clips")'): Run(),
}


def _load_bag_helpers():
    """test/bags/conftest.py's bag writer (the project's), loaded as a plain module."""
    name = "a2r_doc_bag_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "test" / "bags" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it is executed
        spec.loader.exec_module(module)
    return sys.modules[name]


def _tiny_eval_config() -> str:
    split = {"num_tasks": 2, "robot_tasks": 2, "success_per_task": 1, "failure_per_task": 1, "human_per_task": 1,
             "num_frames": 4, "size": 16, "seed": 0}
    return json.dumps({"rows": ["random", "oracle"], "synthetic": {
        "train": split, "val": {**split, "seed": 1, "human_per_task": 0},
        "test": {"success_per_task": 2, "failure_per_task": 2, "seed": 2}}})


def _make_user_files(folder: Path, text: str) -> None:
    """USER_FILES: small stand-ins, under the doc's own names, for the user's files it names."""
    names = set(re.findall(r"[\w./-]+", text))
    if names & {"my_run_bag", "my_bag", "BAG"}:
        bags = _load_bag_helpers()
        frames = bags.render_frames(16)
        for name in ("my_run_bag", "my_bag"):  # a bag of the robot's camera
            if name in names:
                bags.write_image_bag(folder / name, frames)
        if "BAG" in names:  # three cameras: the docs score one of them, and two together
            bags.write_camera_bag(folder / "BAG", {"/camera/image_raw": (frames, "rgb8", 0),
                                                   "/cam_left/image_raw": (frames, "rgb8", 0),
                                                   "/cam_right/image_raw": (frames[::-1].copy(), "jpeg", 0)})
    for name in ("CKPT_DIR", "DIR", "ckpt"):  # the user's checkpoint folder: the shipped one
        if name in names or f"{name}/" in text:
            (folder / name).symlink_to(folder / CKPT, target_is_directory=True)
    if "my_eval.yaml" in names:  # the user's eval config: a synthetic-only one that runs in seconds
        (folder / "my_eval.yaml").write_text(_tiny_eval_config())
    if "ssv2/labels/train.json" in text or "my_videos/index.csv" in text:
        import numpy as np

        from a2r_core.data.video_io import write_video

        clip = np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), dtype=np.uint8)
        (folder / "ssv2" / "labels").mkdir(parents=True)
        (folder / "ssv2" / "labels" / "train.json").write_text(json.dumps(
            [{"id": "1", "label": "opening a drawer", "template": "Opening [something]", "placeholders": ["a drawer"]}]))
        write_video(folder / "ssv2" / "20bn-something-something-v2" / "1.webm", clip, fps=12.0)
        (folder / "my_videos").mkdir()
        write_video(folder / "my_videos" / "a.mp4", clip, fps=12.0)
        (folder / "my_videos" / "index.csv").write_text("path,instruction\na.mp4,open the drawer\n")


def _key(snippet: Snippet) -> tuple[str, str]:
    if snippet.kind == "shell":
        return ("shell", snippet.text)
    hits = [k for k in PY_RUN if k[0] == snippet.file and k[1] in snippet.text]
    return ("python", repr(hits[0]) if len(hits) == 1 else f"{snippet.where}: matches {len(hits)} table entries")


SNIPPETS = extract()
RUN_CHECKS: list[tuple[str, Run]] = []


def test_every_doc_command_is_in_a_table() -> None:
    """A new or changed command in the docs must be put in RUN or SKIP; stale entries go."""
    assert not set(RUN) & set(SKIP), "a command is in both RUN and SKIP"
    unknown = [f"{s.where}: {s.text if s.kind == 'shell' else s.text.splitlines()[0]!r}"
               for s in SNIPPETS if (s.kind == "shell" and s.text not in RUN and s.text not in SKIP)
               or (s.kind == "python" and not _key(s)[1].startswith("("))]
    assert not unknown, "doc commands in neither RUN nor SKIP (add them):\n" + "\n".join(unknown)
    seen_shell = {s.text for s in SNIPPETS if s.kind == "shell"}
    seen_py = {_key(s)[1] for s in SNIPPETS if s.kind == "python"}
    stale = [k for k in [*RUN, *SKIP] if k not in seen_shell] + [str(k) for k in PY_RUN if repr(k) not in seen_py]
    assert not stale, "table entries no doc holds any more (remove them):\n" + "\n".join(stale)
    for (doc, mark), spec in PY_RUN.items():
        blocks = [s for s in SNIPPETS if s.kind == "python" and s.file == doc and mark in s.text]
        assert len(blocks) == 1, f"{doc} {mark!r} names {len(blocks)} Python blocks; make it name one"
        if isinstance(spec, Run):
            RUN_CHECKS.append((blocks[0].text, spec))
    for text, spec in [*RUN.items(), *RUN_CHECKS]:
        for old, _ in spec.sub:
            assert old in text, f"substitution {old!r} does not apply to {text!r}"
        assert spec.why or not (spec.sub or spec.setup or spec.prelude), f"a change without a reason: {text!r}"


def _runnable() -> list:
    out, seen = [], set()
    for s in SNIPPETS:
        spec = RUN.get(s.text) if s.kind == "shell" else next(
            (v for k, v in PY_RUN.items() if k[0] == s.file and k[1] in s.text), None)
        if not isinstance(spec, Run) or (s.kind == "shell" and s.text in seen):
            continue
        seen.add(s.text)
        out.append(pytest.param(s, spec, id=f"{s.where}:{s.kind}:{s.text.splitlines()[0][:60]}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("snippet,spec", _runnable())
def test_doc_command_runs_as_written(snippet: Snippet, spec: Run, tmp_path: Path) -> None:
    if spec.needs_module:
        pytest.importorskip(spec.needs_module, reason=f"the doc installs {spec.needs_module} itself (pip)")
    folder = make_checkout(tmp_path / "checkout")
    text = snippet.text
    for old, new in spec.sub:
        text = text.replace(old, new)
    _make_user_files(folder, text)
    if spec.after is not None:
        block = next(s.text for s in SNIPPETS if s.file == spec.after[0] and spec.after[1] in s.text)
        first = PY_RUN[spec.after]
        done = run_python(first.prelude + block, folder, first.timeout, name="first.py")
        assert done.returncode == 0, f"{spec.after} (run first) failed:\n{done.stderr[-3000:]}"
    for command in spec.setup:
        done = run_shell(command, folder, spec.timeout)
        assert done.returncode == 0, f"setup {command!r} failed:\n{done.stderr[-3000:]}"
    if spec.serve:
        served = serve(text, folder, spec.serve, timeout=spec.timeout)
        assert served.ready, f"{snippet.where}: {text!r} did not come up:\n{served.output[-4000:]}"
        assert served.returncode == 0, f"{snippet.where}: Ctrl-C gave {served.returncode}:\n{served.output[-4000:]}"
        output = served.output
    else:
        done = (run_shell(text, folder, spec.timeout) if snippet.kind == "shell"
                else run_python(spec.prelude + text, folder, spec.timeout))
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{snippet.where}: {text!r} exited {done.returncode}:\n{output[-4000:]}"
    assert "Traceback" not in output, f"{snippet.where}: a traceback:\n{output[-4000:]}"
    for pattern in spec.expect:
        assert re.search(pattern, output), f"{snippet.where}: no {pattern!r} in:\n{output[-3000:]}"
