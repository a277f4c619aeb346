"""`ros2 launch a2r_ros reward.launch.py camera_topic:=... instruction:="..." checkpoint:=DIR`

Starts the a2r reward node with share/a2r_ros/config/reward.yaml. The node list, the launch
arguments and the parameter file come from a2r_ros.bringup_spec, the same place `a2r ros up`
(pip-only machines, no `launch`) reads them, so the two cannot drift apart. A launch argument left
empty keeps the YAML's value; `namespace` moves the node and its relative topics.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from a2r_ros import bringup_spec, dds_profile


def _nodes(context, *args, **kwargs):
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in bringup_spec.LAUNCH_ARGUMENTS}
    params_file = str(bringup_spec.params_file_path())
    # The camera frames' DDS profile (a2r_ros.dds_profile): the shipped one unless the user set one.
    env = dds_profile.profile_environment(arguments["dds_profile"])
    return [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=arguments["namespace"],
            parameters=[params_file, bringup_spec.launch_overrides(arguments, spec)],
            additional_env=env,
            output="screen",
        )
        for spec in bringup_spec.NODES
    ]


def generate_launch_description():
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in bringup_spec.LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
