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
# Camera frames between processes on this machine: Fast DDS's default 512 KB shared-memory
# segment sends larger frames as UDP fragments, which best-effort (sensor-data) QoS mostly loses
# (11 of 180 640x480 frames measured). a2r's profile (config/fastdds_shm.xml: 100 MB shared memory,
# UDP on 127.0.0.1 only) fixes that for every process started from this shell, the camera
# driver's included. A profile you set yourself (FASTDDS_DEFAULT_PROFILES_FILE or
# FASTRTPS_DEFAULT_PROFILES_FILE) is kept; A2R_DDS_PROFILE=none keeps Fast DDS's defaults.
# FASTRTPS_DEFAULT_PROFILES_FILE is what Fast DDS 2 (Humble, Jazzy) reads; on Kilted it only
# earns a deprecation warning in every process, so it is set only where needed.
if [ -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}" ] && [ -z "${FASTRTPS_DEFAULT_PROFILES_FILE:-}" ] \
    && [ "${A2R_DDS_PROFILE:-default}" != "none" ]; then
  if [ "${A2R_DDS_PROFILE:-default}" = "default" ]; then
    export FASTDDS_DEFAULT_PROFILES_FILE="$_a2r_root/config/fastdds_shm.xml"
  else
    export FASTDDS_DEFAULT_PROFILES_FILE="$A2R_DDS_PROFILE"
  fi
  case "${ROS_DISTRO:-}" in
    humble|iron|jazzy) export FASTRTPS_DEFAULT_PROFILES_FILE="$FASTDDS_DEFAULT_PROFILES_FILE" ;;
  esac
fi
# Headless MuJoCo rendering (CPU Mesa through EGL).
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
# Pretrained weights come from installed packages only: never try the network.
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
unset _a2r_root
