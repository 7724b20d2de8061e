"""The self-hosted gateway: the data plane (DESIGN "Components").

`http/` speaks HTTP downstream and upstream, `routing/` maps requests to APIs and
operations, `sync/` keeps the configuration, `policies/` runs APIM policies. The gateway talks
to the control plane only through the configuration API; it imports neither the control
plane nor the directory.
"""
