"""The `a2r` command line: version, help and the `info` command, called through main(argv)."""

from __future__ import annotations

import pytest

from a2r_core import __version__
from a2r_core.cli import COMMAND_MODULES, main


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"a2r {__version__}"


def test_help_lists_every_registered_command(capsys) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for name, _, _ in COMMAND_MODULES:
        assert name in out


def test_every_registered_command_module_follows_the_contract() -> None:
    import importlib

    for name, module_path, _ in COMMAND_MODULES:
        module = importlib.import_module(module_path)
        assert module.NAME == name
        assert callable(module.add_arguments) and callable(module.run)


def test_info_reports_versions_and_ros_environment(capsys) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "a2r" in out and __version__ in out
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" in out and "LOCALHOST" in out
    assert "a2r_ros interfaces" in out and "built" in out


def test_unknown_command_exits_with_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
