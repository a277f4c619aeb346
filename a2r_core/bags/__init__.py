"""rosbag2 bags without a ROS install: read (MCAP, sqlite3, salvaging damaged files), decode camera
frames, score them with the live node's clip buffer, write a copy with the rewards, plot.

Public API:
    BagReader, ReadReport, TopicInfo, RawMessage          (a2r_core.bags.reader)
    SUPPORTED_IMAGE_TYPES, BagFrame, image_topic, image_topics, iter_frames, iter_topic_frames
                                                          (a2r_core.bags.frames)
    score_bag, score_bag_topics, BagScoreResult           (a2r_core.bags.pipeline)
    write_scored_bag, reward_topics, REWARD_TOPIC         (a2r_core.bags.writer)
    a2r_typestore, REWARD_MSGTYPE                         (a2r_core.bags.typestore)
"""

from a2r_core.bags.frames import (
    SUPPORTED_IMAGE_TYPES,
    BagFrame,
    image_topic,
    image_topics,
    iter_frames,
    iter_topic_frames,
)
from a2r_core.bags.pipeline import BagScoreResult, score_bag, score_bag_topics
from a2r_core.bags.reader import BagReader, RawMessage, ReadReport, TopicInfo
from a2r_core.bags.typestore import REWARD_MSGTYPE, a2r_typestore
from a2r_core.bags.writer import REWARD_TOPIC, reward_topics, write_scored_bag

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
    "image_topics",
    "iter_frames",
    "iter_topic_frames",
    "reward_topics",
    "score_bag",
    "score_bag_topics",
    "write_scored_bag",
]
