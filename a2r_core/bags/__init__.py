"""rosbag2 bags without a ROS install: read (MCAP, sqlite3, salvaging damaged files), decode camera
frames, score them through the live node's loop, write a copy with the rewards, plot.

Public API:
    BagReader, ReadReport, TopicInfo, RawMessage          (a2r_core.bags.reader)
    SUPPORTED_IMAGE_TYPES, BagFrame, image_topic, iter_frames   (a2r_core.bags.frames)
    score_bag, BagScoreResult                             (a2r_core.bags.pipeline)
    write_scored_bag, REWARD_TOPIC                        (a2r_core.bags.writer)
    a2r_typestore, REWARD_MSGTYPE                         (a2r_core.bags.typestore)
"""

from a2r_core.bags.frames import SUPPORTED_IMAGE_TYPES, BagFrame, image_topic, iter_frames
from a2r_core.bags.pipeline import BagScoreResult, score_bag
from a2r_core.bags.reader import BagReader, RawMessage, ReadReport, TopicInfo
from a2r_core.bags.typestore import REWARD_MSGTYPE, a2r_typestore
from a2r_core.bags.writer import REWARD_TOPIC, write_scored_bag

__all__ = [
    "BagFrame",
    "BagReader",
    "BagScoreResult",
    "REWARD_MSGTYPE",
    "REWARD_TOPIC",
    "RawMessage",
    "ReadReport",
    "SUPPORTED_IMAGE_TYPES",
    "TopicInfo",
    "a2r_typestore",
    "image_topic",
    "iter_frames",
    "score_bag",
    "write_scored_bag",
]
