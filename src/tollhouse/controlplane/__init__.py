"""The control plane: one API Management service instance.

`model/` validates resources, `store/` keeps them with revisions and a change feed,
`snapshot/` builds each gateway's configuration, `management/` is the ARM-shaped API,
`configapi/` is the API gateways call.
"""

from tollhouse.controlplane._config import ControlPlaneConfig
from tollhouse.controlplane._errors import ControlPlaneError
from tollhouse.controlplane._run import build_control_plane_server
from tollhouse.controlplane._service import ControlPlane

__all__ = ["ControlPlane", "ControlPlaneConfig", "ControlPlaneError", "build_control_plane_server"]
