"""The rosbags typestore a2r reads and writes bags with.

Standard messages (sensor_msgs/Image, ...) come from rosbags' own store for a ROS 2 distribution;
they are wire-identical across Humble, Jazzy and Kilted for everything a2r touches. The project's
`a2r_ros/msg/RewardScore` is registered from the package's own `.msg` text, so the output bag's
schema can never drift from what the live node publishes: there is no second, hand-written copy of
the definition. The installed copy (share/a2r_ros/msg via ament_index) wins over the checkout's,
because a system-ROS install has no checkout next to a2r_core.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from a2r_core.errors import DataError

REWARD_MSGTYPE = "a2r_ros/msg/RewardScore"
# The store whose standard definitions decode bags without embedded definitions (old sqlite3 bags).
DEFAULT_STORE = Stores.ROS2_KILTED


def reward_msg_path() -> Path:
    """Where RewardScore.msg is: the ament index's a2r_ros share dir, else this checkout's msg/."""
    candidates: list[Path] = []
    try:  # ament_index_python is pure Python and imports no rclpy; absent on bare pip installs
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )

        try:
            candidates.append(Path(get_package_share_directory("a2r_ros")) / "msg" / "RewardScore.msg")
        except (PackageNotFoundError, ValueError, LookupError):
            pass
    except ImportError:
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "msg" / "RewardScore.msg")
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(
        "cannot find the a2r_ros RewardScore.msg definition (looked in "
        + ", ".join(str(p) for p in candidates)
        + "); build the a2r_ros package (scripts/setup.sh) or run from the checkout"
    )


@lru_cache(maxsize=1)
def a2r_typestore() -> Typestore:
    """The standard ROS 2 typestore plus a2r_ros/msg/RewardScore (cached: building it parses text)."""
    store = get_typestore(DEFAULT_STORE)
    text = reward_msg_path().read_text(encoding="utf-8")
    store.register(get_types_from_msg(text, REWARD_MSGTYPE))
    return store
