"""Reading settings named as APIM names them: keys with dots.

Kubernetes `envFrom` passes ConfigMap keys such as `config.service.endpoint` as environment
variables unchanged; shells cannot, so the same key is also read upper-cased with dots and
dashes turned into underscores (`CONFIG_SERVICE_ENDPOINT`), and from an env-file.
"""

from tollhouse.settings._source import (
    SettingsError,
    SettingsSource,
    parse_timespan,
    read_env_file,
)

__all__ = ["SettingsError", "SettingsSource", "parse_timespan", "read_env_file"]
