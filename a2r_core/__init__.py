"""a2r_core: Adapt2Reward video-language rewards as a plain Python + PyTorch library.

Nothing in this package imports rclpy; the ROS 2 nodes live in `a2r_ros`.
"""

__version__ = "0.1.0"
