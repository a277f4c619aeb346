# Source this file (bash or zsh) to use a2r from a checkout set up by scripts/setup.sh:
#   source scripts/env.sh
# It activates the virtual environment, overlays the colcon install of a2r_ros and sets the
# ROS 2 environment defaults a2r's tests and demos rely on.
_a2r_root="$(cd "$(dirname "${BASH_SOURCE[0]:-${(%):-%x}}")/.." && pwd)"

if [ ! -f "$_a2r_root/install/setup.bash" ]; then
  echo "a2r: not set up yet; run $_a2r_root/scripts/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi

# shellcheck disable=SC1091
source "$_a2r_root/.venv/bin/activate"
export AMENT_PREFIX_PATH="$_a2r_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# colcon's setup scripts run with `set -u`-unsafe code paths; keep the caller's options.
# shellcheck disable=SC1091
source "$_a2r_root/install/setup.bash"

# DDS discovery stays on this machine by default. On a real robot whose nodes run on several
# hosts, override before sourcing: export ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET (and unset
# ROS_LOCALHOST_ONLY on Humble).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
if [ "${ROS_DISTRO:-}" = "humble" ]; then
  export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}"
fi
# Headless MuJoCo rendering (CPU Mesa through EGL).
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
# Pretrained weights come from installed packages only: never try the network.
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
unset _a2r_root
