"""The control plane of tests/controlplane (real directory, real TLS), for the gateway's side."""

from tests.controlplane.conftest import control_plane, operator, seed_roles

__all__ = ["control_plane", "operator", "seed_roles"]
