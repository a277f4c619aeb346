"""a2r_ros: ROS 2 nodes around a2r_core.

This directory is merged at install time with the Python package that rosidl generates for the
package's interfaces (`a2r_ros.msg`, `a2r_ros.srv`). extend_path lets a source checkout on
sys.path and the colcon install tree serve one package, whichever comes first.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
