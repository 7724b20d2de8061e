"""Tollhouse: self-hosted API management on the architecture of the APIM self-hosted gateway."""

__version__ = "0.1.0"
