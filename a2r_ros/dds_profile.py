"""The Fast DDS profile a2r ships for same-host image traffic, and when it is used.

Why: with Fast DDS's defaults a raw camera frame larger than the 512 KB shared-memory segment
(640x480 rgb8 is 900 KB) goes over UDP fragments, and with sensor-data (best-effort) QoS most
frames are lost between processes: 11 of 180 arrived in the issue's measurement, none of the
reward node's clips could be formed. `config/fastdds_shm.xml` gives every participant a 100 MB
shared-memory segment (plus UDPv4 on 127.0.0.1 only, as fallback and for discovery); with it all
frames arrive (docs/ros.md has the numbers). The camera driver's process needs it as much as the
reward node's.

Who uses it: `scripts/env.sh` exports it, the launch files pass it to the nodes they start,
`a2r ros up` and `a2r bench` set it for their own process before rclpy starts. Each of them keeps
a profile the user has set (`FASTDDS_DEFAULT_PROFILES_FILE`, or the older
`FASTRTPS_DEFAULT_PROFILES_FILE`). The choice (`dds_profile:=` launch argument, `a2r ros up
--dds-profile`, else the `A2R_DDS_PROFILE` environment variable, else "default") is "default",
"none" (Fast DDS's own defaults) or the path of another profile file.

Pure Python (no rclpy): a launch file, a test and the CLI import it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, MutableMapping

from a2r_core.errors import ConfigError

PROFILE_RELATIVE = "config/fastdds_shm.xml"
# Fast DDS 3 (Kilted) reads FASTDDS_DEFAULT_PROFILES_FILE; Fast DDS 2 (Humble, Jazzy) reads
# FASTRTPS_DEFAULT_PROFILES_FILE. rmw_fastrtps on Kilted still honours the old name, with a
# deprecation WARN in every process, so the old name is only set where the distro needs it.
ENV_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")
DEFAULT, NONE = "default", "none"
CHOICE_ENV_VAR = "A2R_DDS_PROFILE"


def shipped_profile() -> Path:
    """config/fastdds_shm.xml as installed (share/a2r_ros), else the source checkout's copy."""
    from a2r_ros.bringup_spec import params_file_path

    return params_file_path(PROFILE_RELATIVE)


def user_profile(env: Mapping[str, str]) -> str | None:
    """The profile file the user chose through the environment, if any (either variable)."""
    for name in ENV_VARS:
        if env.get(name, "").strip():
            return env[name]
    return None


def profile_environment(choice: str = "", env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to add to `env` (default: os.environ) so that a process uses the profile.

    `choice`: "default" = the shipped profile unless `env` already names one (then nothing is
    added: the user's profile is kept); "none" = add nothing; anything else = the path of a
    profile file to use (ConfigError if it does not exist); "" = `env`'s A2R_DDS_PROFILE, else
    "default"."""
    env = os.environ if env is None else env
    choice = (choice or env.get(CHOICE_ENV_VAR, "") or DEFAULT).strip()
    if choice.lower() == NONE:
        return {}
    if choice.lower() == DEFAULT:
        if user_profile(env) is not None:
            return {}
        path = shipped_profile()
    else:
        path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(f"DDS profile {str(path)!r} not found (give an existing Fast DDS XML file, "
                          f"'{DEFAULT}' for a2r's {PROFILE_RELATIVE}, or '{NONE}')")
    names = ENV_VARS if env.get("ROS_DISTRO", "").strip().lower() in FAST_DDS_2_DISTROS else ENV_VARS[:1]
    return {name: str(path.resolve()) for name in names}


def apply(choice: str = "", env: MutableMapping[str, str] | None = None) -> str | None:
    """Put `profile_environment(choice)` into `env` (default: os.environ) and return the profile
    now in effect (None: Fast DDS's defaults). Must run before the process's first rclpy.init:
    Fast DDS reads the file once, when the first participant is created."""
    env = os.environ if env is None else env
    env.update(profile_environment(choice, env))
    return user_profile(env)
