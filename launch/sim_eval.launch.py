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


def _end_launch_when_required_node_exits(name):
    """OnProcessExit callback of a required node (a2r_ros.supervisor.REQUIRED_NODES): unless
    launch is already shutting down (Ctrl-C), raise. Launch then logs the reason ("Caught exception
    in launch ...: required node reward_node exited with status 1"), shuts every node down and
    exits with status 1, where a `Shutdown` action would end it with status 0. `a2r ros up` does
    the same (a2r_ros.supervisor)."""
    def on_exit(event, context):
        if context.is_shutdown:
            return None
        raise RuntimeError(supervisor.required_exit_reason(name, event.returncode))
    return on_exit


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
                target_action=node, on_exit=_end_launch_when_required_node_exits(spec.name))))
    return actions


def generate_launch_description():
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in sim_spec.SIM_EVAL_LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
