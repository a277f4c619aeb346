"""`ros2 launch a2r_ros reward.launch.py camera_topic:=... instruction:="..." checkpoint:=DIR`

Starts the a2r reward node with share/a2r_ros/config/reward.yaml. The node list, the launch
arguments and the parameter file come from a2r_ros.bringup_spec, the same place `a2r ros up`
(pip-only machines, no `launch`) reads them, so the two cannot drift apart. A launch argument left
empty keeps the YAML's value; `namespace` moves the node and its relative topics. The reward
node is required: when it exits (a missing checkpoint, a crash) the launch ends with exit status 1
and says why, as `a2r ros up` does (a2r_ros.supervisor).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from a2r_ros import bringup_spec, dds_profile, supervisor


def _nodes(context, *args, **kwargs):
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in bringup_spec.LAUNCH_ARGUMENTS}
    params_file = str(bringup_spec.params_file_path())
    # The camera frames' DDS profile (a2r_ros.dds_profile): the shipped one unless the user set one.
    env = dds_profile.profile_environment(arguments["dds_profile"])
    actions = []
    for spec in bringup_spec.NODES:
        node = Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=arguments["namespace"],
            parameters=[params_file, bringup_spec.launch_overrides(arguments, spec)],
            additional_env=env,
            output="screen",
        )
        actions.append(node)
        if spec.name in supervisor.REQUIRED_NODES:
            actions.append(RegisterEventHandler(OnProcessExit(
                target_action=node, on_exit=supervisor.launch_exit_handler(spec.name))))
    return actions


def generate_launch_description():
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in bringup_spec.LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
