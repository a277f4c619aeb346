"""The shipped Fast DDS profile (config/fastdds_shm.xml) and who uses it by default.

What the file configures is checked by reading it (shared memory large enough for full-HD frames,
UDP on loopback only, nothing else); that it works is test_camera_process.py's job (frames from a
camera process arrive). Here: the choice logic of a2r_ros.dds_profile, scripts/env.sh keeping a
user's own profile, and the launch files passing it to the nodes they start.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from a2r_core.errors import ConfigError
from a2r_ros import dds_profile

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "config" / "fastdds_shm.xml"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def test_profile_is_shared_memory_plus_loopback_udp_and_nothing_else() -> None:
    root = ET.parse(PROFILE).getroot()
    elements = {e: _local(e.tag) for e in root.iter()}
    transports = [e for e, tag in elements.items() if tag == "transport_descriptor"]
    kinds = {}
    for t in transports:
        fields = {_local(c.tag): c for c in t}
        kinds[fields["type"].text.strip()] = fields
    assert set(kinds) == {"SHM", "UDPv4"}
    assert int(kinds["SHM"]["segment_size"].text) >= 100 * 2**20 * 0.95  # ~100 MB: many 6 MB frames in flight
    allowed = [a.text.strip() for a in kinds["UDPv4"]["interfaceWhiteList"]]
    assert allowed == ["127.0.0.1"]
    # No other address anywhere in the file (no peers, locators or interfaces off the machine).
    addresses = re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", ET.tostring(root, encoding="unicode"))
    assert set(addresses) == {"127.0.0.1"}
    participant = next(e for e, tag in elements.items() if tag == "participant")
    assert participant.get("is_default_profile") == "true"
    rtps = {_local(c.tag): c for c in next(c for c in participant if _local(c.tag) == "rtps")}
    assert rtps["useBuiltinTransports"].text.strip() == "false"
    used = [c.text.strip() for c in rtps["userTransports"]]
    declared = [fields["transport_id"].text.strip() for fields in kinds.values()]
    assert sorted(used) == sorted(declared)


def test_shipped_profile_resolves_to_the_installed_or_checkout_file() -> None:
    path = dds_profile.shipped_profile()
    assert path.is_file() and path.read_text() == PROFILE.read_text()


def test_choice_default_none_file_and_the_users_own_profile_kept(tmp_path: Path) -> None:
    shipped = str(dds_profile.shipped_profile().resolve())
    assert dds_profile.profile_environment("", {}) == {"FASTDDS_DEFAULT_PROFILES_FILE": shipped}
    assert dds_profile.profile_environment("default", {"ROS_DISTRO": "kilted"}) == {
        "FASTDDS_DEFAULT_PROFILES_FILE": shipped}
    # Fast DDS 2 distros read the older variable name too.
    assert dds_profile.profile_environment("default", {"ROS_DISTRO": "humble"}) == {
        "FASTDDS_DEFAULT_PROFILES_FILE": shipped, "FASTRTPS_DEFAULT_PROFILES_FILE": shipped}
    # The user's own profile, under either name, is kept.
    assert dds_profile.profile_environment("", {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}
    assert dds_profile.profile_environment("default", {"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}
    assert dds_profile.profile_environment("none", {}) == {}
    assert dds_profile.profile_environment("", {"A2R_DDS_PROFILE": "none"}) == {}
    own = tmp_path / "own.xml"
    own.write_text("<dds/>")
    assert dds_profile.profile_environment(str(own), {}) == {"FASTDDS_DEFAULT_PROFILES_FILE": str(own.resolve())}
    assert dds_profile.profile_environment("", {"A2R_DDS_PROFILE": str(own)}) == {
        "FASTDDS_DEFAULT_PROFILES_FILE": str(own.resolve())}
    with pytest.raises(ConfigError, match="missing.xml.*not found"):
        dds_profile.profile_environment(str(tmp_path / "missing.xml"), {})
    env: dict[str, str] = {}
    assert dds_profile.apply("", env) == shipped and env == {"FASTDDS_DEFAULT_PROFILES_FILE": shipped}


def _env_sh(extra: dict[str, str]) -> dict[str, str]:
    """The profile variables after `source scripts/env.sh` in a shell with `extra` set."""
    env = {k: v for k, v in os.environ.items() if k not in (*dds_profile.ENV_VARS, "A2R_DDS_PROFILE", "ROS_DISTRO")}
    script = ('source scripts/env.sh >/dev/null && '
              'echo "FASTDDS=${FASTDDS_DEFAULT_PROFILES_FILE:-}" && echo "FASTRTPS=${FASTRTPS_DEFAULT_PROFILES_FILE:-}"')
    out = subprocess.run(["bash", "-c", script], cwd=REPO, env={**env, **extra}, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_env_sh_exports_the_profile_unless_the_user_set_one() -> None:
    assert _env_sh({}) == {"FASTDDS": str(PROFILE), "FASTRTPS": ""}
    assert _env_sh({"ROS_DISTRO": "jazzy"}) == {"FASTDDS": str(PROFILE), "FASTRTPS": str(PROFILE)}
    assert _env_sh({"FASTDDS_DEFAULT_PROFILES_FILE": "/opt/mine.xml"}) == {"FASTDDS": "/opt/mine.xml", "FASTRTPS": ""}
    assert _env_sh({"FASTRTPS_DEFAULT_PROFILES_FILE": "/opt/mine.xml"}) == {"FASTDDS": "", "FASTRTPS": "/opt/mine.xml"}
    assert _env_sh({"A2R_DDS_PROFILE": "none"}) == {"FASTDDS": "", "FASTRTPS": ""}


@pytest.mark.parametrize("launch_file", ["reward.launch.py", "sim_eval.launch.py"])
def test_launch_files_give_their_nodes_the_profile(launch_file: str) -> None:
    tree = ast.parse((REPO / "launch" / launch_file).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    nodes = [c for c in calls if getattr(c.func, "id", "") == "Node"]
    assert nodes and all("additional_env" in {kw.arg for kw in c.keywords} for c in nodes)
    assert any(isinstance(c.func, ast.Attribute) and c.func.attr == "profile_environment"
               and getattr(c.func.value, "id", "") == "dds_profile" for c in calls)


def test_ros_up_refuses_a_missing_profile_in_one_line(tmp_path: Path, capfd) -> None:
    from a2r_core.cli import main as a2r_main

    assert a2r_main(["ros", "up", "--dds-profile", str(tmp_path / "nope.xml")]) == 1
    err = capfd.readouterr().err
    assert "nope.xml" in err and "not found" in err and "Traceback" not in err
