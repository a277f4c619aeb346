"""A camera subscription served by its own single-threaded executor, in its own thread.

Why: rclpy's MultiThreadedExecutor (what `node_main` spins every a2r node on, so a query-service
call never blocks the timers) takes large messages slowly: measured on the 2-core development
machine with a 1920x1080 rgb8 camera at 30 Hz in another process, a bare subscription on it
received 46-48 of 180 frames with 2 threads and 127-180 with 8, while the same subscription on a
SingleThreadedExecutor received 180 of 180 (docs/ros.md, "Cameras in other processes"). Frames a
subscription does not take in time are lost (best effort, `image_qos_depth` deep). So the image
subscription lives on a small helper node, `<node>_camera` in the node's namespace, that nothing
else shares: one thread whose only job is taking frames and handing them to the node's callback
(which converts, buffers and queues clips; the model runs on the node's worker thread).

Names stay the node's: the helper subscribes to the topic name the node itself resolved (its
namespace and remappings, node-specific ones included) and takes no command-line arguments of its
own, so a remapping is applied once. Only rclpy API that Humble, Jazzy and Kilted share is used.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile


class CameraIntake:
    """Subscribe `callback` to `topic` (as `node` resolves it) on a helper node spun in its own
    thread; `close()` stops the thread and destroys the helper (idempotent)."""

    def __init__(self, node: Node, msg_type: Any, topic: str, callback: Callable[[Any], None],
                 qos: QoSProfile) -> None:
        self.topic_name = node.resolve_topic_name(topic)
        self.node = Node(f"{node.get_name()}_camera", namespace=node.get_namespace(), context=node.context,
                         use_global_arguments=False, start_parameter_services=False)
        self.subscription = self.node.create_subscription(msg_type, self.topic_name, callback, qos)
        self._context = node.context
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(self.node)
        self._closed = False
        self._thread = threading.Thread(target=self._spin, name="a2r_camera_intake", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass  # the process is shutting down (Ctrl-C): the owner closes us
        except Exception:  # noqa: BLE001 - see below
            # A Ctrl-C can shut the context down between rclpy's own check and its next wait,
            # which then raises RCLError ("context is not valid") instead: the same shutdown.
            if self._context.ok() and not self._closed:
                raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=10.0)
        try:
            self.node.destroy_node()
        except Exception:  # noqa: BLE001 - the context may be gone already (process shutdown)
            pass


__all__ = ["CameraIntake"]
