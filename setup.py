"""pip install of a2r_core and the `a2r` command line (no ROS needed).

The ROS 2 package (interfaces, nodes, launch files) is built with colcon from package.xml and
CMakeLists.txt; see the README.
"""

from setuptools import find_packages, setup

setup(
    name="a2r",
    version="0.1.0",
    description="Adapt2Reward: language-conditioned video rewards with failure prompts",
    python_requires=">=3.10",
    packages=find_packages(include=["a2r_core", "a2r_core.*"]),
    package_data={"a2r_core": ["resources/*", "resources/**/*", "data/*.yaml"]},
    entry_points={"console_scripts": ["a2r = a2r_core.cli:main"]},
)
