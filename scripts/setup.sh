#!/usr/bin/env bash
# Set up a2r on a fresh Debian/Ubuntu machine without a system ROS 2: system libraries, a Python
# 3.11 virtual environment with pinned dependencies (ROS 2 Kilted from the PyPI `ros-*` wheels),
# and the colcon build of the `a2r_ros` package.
#
# Idempotent: every step checks whether it is already done (a stamp holding the hash of its inputs),
# so a second run with nothing changed takes seconds. Usage:
#   scripts/setup.sh            # everything
#   A2R_SKIP_APT=1 scripts/setup.sh   # you installed the system libraries yourself
# Afterwards: `source scripts/env.sh`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON_BIN="${A2R_PYTHON:-python3.11}"
STAMPS="$VENV/.a2r-stamps"

log() { printf '[a2r setup] %s\n' "$*"; }

# Hash of the given files' contents: a step re-runs only when its inputs change.
inputs_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" >"$STAMPS/$1"; }

# 1. System libraries: EGL/Mesa for headless MuJoCo rendering, a C/C++ toolchain and CMake for the
#    rosidl interface build.
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libopengl0 libglvnd0 cmake g++ make)
install_system_packages() {
  [ "${A2R_SKIP_APT:-0}" = 1 ] && { log "skipping apt (A2R_SKIP_APT=1)"; return; }
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# 2. The virtual environment with pinned Python dependencies.
create_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON_BIN" >/dev/null || PYTHON_BIN=python3
    "$PYTHON_BIN" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
      || { echo "a2r needs Python 3.11 (the ROS 2 Kilted wheels are cp311); set A2R_PYTHON" >&2; exit 1; }
    log "creating $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
}

install_python_packages() {
  local h
  h="$(inputs_hash requirements.txt requirements-ros-pypi.txt requirements.lock setup.py)"
  stamp_ok pip "$h" && return
  log "installing Python packages (first run: a few minutes)"
  local pip_log="$VENV/pip-install.log"
  # Then a2r_core and the `a2r` CLI, editable so the checkout is what runs.
  # pip's output goes to a log (this machine's index configuration makes it noisy); shown on failure.
  { "$VENV/bin/python" -m pip install --disable-pip-version-check \
      -r requirements.txt -r requirements-ros-pypi.txt -c requirements.lock \
    && "$VENV/bin/python" -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
  } >"$pip_log" 2>&1 || { grep -v '^WARNING: Location' "$pip_log" | tail -40 >&2; echo "pip install failed; full log: $pip_log" >&2; exit 1; }
  stamp_set pip "$h"
}

# 3. The ROS wheels were built in a manylinux image and bake its include paths into their exported
#    CMake files; point them at this interpreter's and numpy's include directories. CMake refuses
#    an exported include directory inside the package's source tree, and .venv lives there, so
#    numpy's headers are named through a link outside it (recreated on every run).
fix_wheel_cmake_paths() {
  local py_inc np_inc np_link
  py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
  np_link="${XDG_CACHE_HOME:-$HOME/.cache}/a2r/numpy-include-$(printf '%s' "$VENV" | sha256sum | cut -c1-12)"
  mkdir -p "$(dirname "$np_link")"
  ln -sfn "$np_inc" "$np_link"
  NUMPY_INCLUDE_LINK="$np_link"
  local files
  files="$(grep -rlE '/opt/python/cp311-cp311|numpy/_core/include' "$VENV/share" --include='*.cmake' 2>/dev/null || true)"
  [ -z "$files" ] && return
  log "rewriting baked include paths in $(echo "$files" | wc -l) CMake files"
  echo "$files" | xargs sed -i -E \
    -e "s#[^\";]*/numpy/_core/include#${np_link}#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${py_inc}#g"
}

# 4. colcon build of the a2r_ros package (interfaces + installed Python + launch/config).
colcon_build() {
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  local h
  # Inputs: the build files' contents, and the names of the Python files (a symlink install links
  # each file, so a new module needs a rebuild; an edited one does not).
  h="$( { find package.xml CMakeLists.txt msg srv launch config scripts/ros -type f -print0 2>/dev/null | sort -z | xargs -0 cat
          find a2r_ros -name '*.py' | sort; } | sha256sum | cut -d' ' -f1)"
  if stamp_ok colcon "$h" && [ -f install/setup.bash ]; then
    return
  fi
  log "colcon build"
  colcon --log-base build/colcon-log build --base-paths . --symlink-install \
    --build-base build --install-base install \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DPython3_NumPy_INCLUDE_DIR="$NUMPY_INCLUDE_LINK" \
      -DBUILD_TESTING=OFF -DA2R_INSTALL_CORE=OFF \
    --event-handlers console_cohesion- summary- >build-colcon.log 2>&1 \
    || { cat build-colcon.log >&2; echo "colcon build failed (log above)" >&2; exit 1; }
  rm -f build-colcon.log
  stamp_set colcon "$h"
}

install_system_packages
create_venv
install_python_packages
fix_wheel_cmake_paths
colcon_build
log "ready: source scripts/env.sh"
