"""`a2r info`: what is installed and where, for bug reports and for checking a setup."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import os
import platform

from a2r_core import __version__

NAME = "info"
HELP = "show the installation: versions, ROS 2, devices, paths"

_PACKAGES = ["torch", "transformers", "numpy", "mujoco", "metaworld", "pybullet", "rosbags", "av"]
_ROS_ENV = ["ROS_DISTRO", "ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY",
            "RMW_IMPLEMENTATION", "MUJOCO_GL"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`a2r info` takes no options."""


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, str]:
    """Versions and environment facts, as printable strings."""
    info = {"a2r": __version__, "python": platform.python_version(), "machine": platform.machine()}
    info.update({pkg: _version(pkg) for pkg in _PACKAGES})
    info["rclpy"] = "importable" if importlib.util.find_spec("rclpy") else "not importable"
    interfaces = importlib.util.find_spec("a2r_ros.msg") if importlib.util.find_spec("a2r_ros") else None
    info["a2r_ros interfaces"] = "built" if interfaces else "not built (run scripts/setup.sh or colcon build)"
    info.update({name: os.environ.get(name, "(unset)") for name in _ROS_ENV})
    try:
        import torch

        info["torch threads"] = str(torch.get_num_threads())
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no"
    except ImportError:
        pass
    return info


def run(args: argparse.Namespace) -> int:
    """Print one `key: value` line per fact."""
    facts = collect()
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
    return 0
