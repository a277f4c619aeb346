"""One node list, one parameter file: config/reward.yaml, the declared defaults, the launch file.

`launch` and `launch_ros` are not installable here (not on PyPI), so the launch file cannot run; it
is compiled, its syntax tree is checked to take every name from a2r_ros.bringup_spec, and that
module's names are checked against the install tree and the YAML.
"""

from __future__ import annotations

import ast
import py_compile
from pathlib import Path

import pytest
import yaml
from ament_index_python.packages import get_package_prefix, get_package_share_directory

from a2r_core.clip_buffer import ClipBufferConfig
from a2r_core.errors import ConfigError
from a2r_ros import bringup_spec as spec

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO / "launch" / "reward.launch.py"
NODE = spec.NODES[0]


def _yaml_parameters(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["/**"]["ros__parameters"]


def test_yaml_holds_exactly_the_declared_parameters_with_their_defaults_and_types() -> None:
    in_yaml = _yaml_parameters(REPO / "config" / "reward.yaml")
    declared = {p.name: p.default for p in spec.REWARD_NODE_PARAMETERS}
    assert sorted(in_yaml) == sorted(declared), "the same names"
    for name, default in declared.items():
        assert in_yaml[name] == default, name
        assert type(in_yaml[name]) is type(default), f"{name}: {type(in_yaml[name]).__name__} in YAML"
    # and each default passes its own descriptor's range/choices
    for p in spec.REWARD_NODE_PARAMETERS:
        p.check(p.default, "spec")


def test_installed_share_holds_the_same_parameter_file() -> None:
    installed = Path(get_package_share_directory("a2r_ros")) / "config" / "reward.yaml"
    assert installed.read_text() == (REPO / "config" / "reward.yaml").read_text()
    assert spec.params_file_path().resolve() == installed.resolve()


def test_launch_file_compiles_and_takes_every_name_from_bringup_spec(tmp_path: Path) -> None:
    py_compile.compile(str(LAUNCH_FILE), cfile=str(tmp_path / "launch.pyc"), doraise=True)
    tree = ast.parse(LAUNCH_FILE.read_text())
    imports = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names}
    assert ("a2r_ros", "bringup_spec") in imports
    assert ("launch_ros.actions", "Node") in imports
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    # Node(...) and DeclareLaunchArgument(...) get names from the spec, never from literals.
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(call.func, "id", getattr(call.func, "attr", ""))
        if name in ("Node", "DeclareLaunchArgument"):
            literals = [kw.arg for kw in call.keywords if isinstance(kw.value, ast.Constant) and kw.arg != "output"]
            literals += ["positional"] * sum(isinstance(a, ast.Constant) for a in call.args)
            assert not literals, f"{name}(...) hard-codes {literals}"
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "bringup_spec"}
    assert {"NODES", "LAUNCH_ARGUMENTS", "params_file_path", "launch_overrides"} <= used
    for attr in used:
        assert hasattr(spec, attr), f"launch file uses bringup_spec.{attr}, which does not exist"


def test_spec_names_exist_in_the_install_tree_and_config() -> None:
    lib = Path(get_package_prefix("a2r_ros")) / "lib" / "a2r_ros"
    for node in spec.NODES:
        assert (lib / node.executable).is_file(), f"{node.executable} not installed"
        assert (REPO / "scripts" / "ros" / node.executable).is_file()
        module_file = REPO / Path(*node.module.split(".")).with_suffix(".py")
        assert f"class {node.class_name}(" in module_file.read_text()
    names = {p.name for p in NODE.parameters}
    assert {a.name for a in spec.LAUNCH_ARGUMENTS} == {"camera_topic", "instruction", "checkpoint", "device",
                                                       "rate", "namespace", "dds_profile"}
    for arg in spec.LAUNCH_ARGUMENTS:
        assert arg.parameter is None or arg.parameter in names, arg
    assert names == set(_yaml_parameters(REPO / "config" / "reward.yaml"))


def test_launch_arguments_become_typed_overrides() -> None:
    got = spec.launch_overrides({"instruction": "close the drawer", "rate": "5", "camera_topic": "",
                                 "namespace": "robot1", "device": "cpu"}, NODE)
    assert got == {"instructions": ["close the drawer"], "rate_hz": 5.0, "device": "cpu"}
    two = spec.launch_overrides({"instruction": "['open the drawer', 'close the drawer']"}, NODE)
    assert two == {"instructions": ["open the drawer", "close the drawer"]}
    with pytest.raises(ConfigError, match="launch argument rate"):
        spec.launch_overrides({"rate": "fast"}, NODE)
    with pytest.raises(ConfigError, match=r"outside \[0.01, 100.0\]"):
        spec.launch_overrides({"rate": "0"}, NODE)


def test_params_file_sections_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("/**:\n  ros__parameters:\n    rate_hz: 4.0\n"
                    "/robot1/reward_node:\n  ros__parameters:\n    device: cuda:0\n"
                    "other_node:\n  ros__parameters:\n    whatever: 1\n")
    plain = spec.load_node_parameters(path, NODE)
    assert plain["rate_hz"] == 4.0 and plain["device"] == "cpu" and plain["window_s"] == 2.0
    assert spec.load_node_parameters(path, NODE, namespace="robot1")["device"] == "cuda:0"

    for text, message in [
        ("/**:\n  ros__parameters:\n    rate_hz: 4\n", "must be a double.*decimal point"),
        ("/**:\n  ros__parameters:\n    ratehz: 4.0\n", "has no parameter 'ratehz'"),
        ("/**:\n  ros__parameters:\n    image_qos: fast\n", "not one of sensor_data, reliable"),
        ("/**:\n  params: {}\n", "ros__parameters"),
        ("- just a list\n", "mapping"),
        ("/**: [unclosed\n", "not a readable YAML"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message) as info:
            spec.load_node_parameters(path, NODE)
        assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        spec.load_node_parameters(tmp_path / "missing.yaml", NODE)


def test_set_overrides_are_typed_per_parameter() -> None:
    values = {p.name: p.default for p in NODE.parameters}
    out = spec.apply_overrides(values, NODE, ["rate_hz=5", "window_frames=30", "checkpoint=/tmp/x=y",
                                              "instructions=[a, b]"])
    assert out["rate_hz"] == 5.0 and out["window_frames"] == 30 and out["checkpoint"] == "/tmp/x=y"
    assert out["instructions"] == ["a", "b"]
    for bad, message in [("rate_hz", "NAME=VALUE"), ("nope=1", "no parameter 'nope'"),
                         ("window_frames=2.5", "integer"), ("image_transport=ftp", "one of raw, compressed")]:
        with pytest.raises(ConfigError, match=message):
            spec.apply_overrides(values, NODE, [bad])


def test_clip_buffer_config_follows_the_parameters() -> None:
    values = {p.name: p.default for p in NODE.parameters}
    cfg = spec.clip_buffer_config(values, model_num_frames=8)
    assert cfg.num_frames == 8 and cfg.stride_s == pytest.approx(0.5) and cfg.window_s == 2.0
    cfg = spec.clip_buffer_config({**values, "num_frames": 4, "rate_hz": 10.0}, model_num_frames=8)
    assert cfg.num_frames == 4 and cfg.stride_s == pytest.approx(0.1)


def test_node_defaults_cut_the_same_clips_as_clip_buffer_defaults() -> None:
    """Bag scoring without a2r_ros falls back to ClipBufferConfig's defaults: they must be the node's."""
    values = {p.name: p.default for p in NODE.parameters}
    assert spec.clip_buffer_config(values, model_num_frames=8) == ClipBufferConfig(num_frames=8)
