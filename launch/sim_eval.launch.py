"""`ros2 launch a2r_ros sim_eval.launch.py checkpoint:=DIR [task:=drawer-close-v3 instruction:="close the drawer"]`

Starts the simulated evaluation: the MetaWorld bridge, the reward node and the MPC planner node,
with share/a2r_ros/config/sim_eval.yaml. The node list, the launch arguments and the parameter
file come from a2r_ros.sim_spec, the same place `a2r ros up --config config/sim_eval.yaml` reads
them. A launch argument left empty keeps the YAML's value. The reward node and the bridge are
required: when one exits (a missing checkpoint, a crash) the launch stops the others, ends with
exit status 1 and says why, as `a2r ros up` does (a2r_ros.supervisor).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from a2r_ros import dds_profile, sim_spec, supervisor


def _nodes(context, *args, **kwargs):
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in sim_spec.SIM_EVAL_LAUNCH_ARGUMENTS}
    params_file = str(sim_spec.sim_eval_params_file_path())
    # The camera frames' DDS profile (a2r_ros.dds_profile): the shipped one unless the user set one.
    env = dds_profile.profile_environment(arguments["dds_profile"])
    actions = []
    for spec in sim_spec.SIM_EVAL_NODES:
        node = Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=arguments["namespace"],
            parameters=[params_file, sim_spec.sim_eval_overrides(arguments, spec)],
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
                for a in sim_spec.SIM_EVAL_LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
