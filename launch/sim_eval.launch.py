"""`ros2 launch a2r_ros sim_eval.launch.py checkpoint:=DIR [task:=drawer-close-v3 instruction:="close the drawer"]`

Starts the simulated evaluation: the MetaWorld bridge, the reward node and the MPC planner node,
with share/a2r_ros/config/sim_eval.yaml. The node list, the launch arguments and the parameter
file come from a2r_ros.sim_spec, the same place `a2r ros up --config config/sim_eval.yaml` reads
them. A launch argument left empty keeps the YAML's value.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from a2r_ros import dds_profile, sim_spec


def _nodes(context, *args, **kwargs):
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in sim_spec.SIM_EVAL_LAUNCH_ARGUMENTS}
    params_file = str(sim_spec.sim_eval_params_file_path())
    # The camera frames' DDS profile (a2r_ros.dds_profile): the shipped one unless the user set one.
    env = dds_profile.profile_environment(arguments["dds_profile"])
    return [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=arguments["namespace"],
            parameters=[params_file, sim_spec.sim_eval_overrides(arguments, spec)],
            additional_env=env,
            output="screen",
        )
        for spec in sim_spec.SIM_EVAL_NODES
    ]


def generate_launch_description():
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in sim_spec.SIM_EVAL_LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
