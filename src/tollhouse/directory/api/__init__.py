"""HTTP routes of the directory: Entra-shaped token service, Graph objects, ARM RBAC."""

from tollhouse.directory.api._app import create_app

__all__ = ["create_app"]
