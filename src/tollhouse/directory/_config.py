"""The directory's configuration: every limit a named constant with a setting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tollhouse.directory import tokens
from tollhouse.directory.tokens._throttle import DEFAULT_MAX_FAILURES, DEFAULT_WINDOW_SECONDS
from tollhouse.settings import SettingsError, SettingsSource

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443
DEFAULT_DATA_DIR = Path(".tollhouse/directory")
DEFAULT_DOMAIN = "tollhouse.local"
# A token request is a handful of form fields; an assertion with a chain is ~8 KiB.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# uvicorn has no deadline for the header block (security-and-faults.md C.4): we add one.
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_KEEPALIVE_SECONDS = 5
# A replica re-reads the signing keys this often, so a rotation made by another is seen.
DEFAULT_KEY_RELOAD_SECONDS = 30.0


@dataclass(frozen=True)
class DirectoryConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # The first is the authority written into tokens and discovery documents; clients may
    # reach the directory by any of them (assertions name the one they used).
    public_urls: tuple[str, ...] = ()
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    tls_cert_path: Path | None = None
    tls_key_path: Path | None = None
    default_domain: str = DEFAULT_DOMAIN
    bootstrap_tenant_id: str | None = None
    token_lifetime: int = tokens.DEFAULT_TOKEN_LIFETIME_SECONDS
    publish_ahead: float = tokens.DEFAULT_PUBLISH_AHEAD_SECONDS
    assertion_leeway: float = tokens.DEFAULT_LEEWAY_SECONDS
    assertion_max_lifetime: float = tokens.DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS
    max_auth_failures: int = DEFAULT_MAX_FAILURES
    auth_failure_window: float = DEFAULT_WINDOW_SECONDS
    federation_ca_bundle: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    keepalive_timeout: int = DEFAULT_KEEPALIVE_SECONDS
    key_reload_seconds: float = DEFAULT_KEY_RELOAD_SECONDS
    # The CA bundle clients need to trust this directory's certificate (written into the
    # administrator profile for the CLI).
    ca_bundle: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def authority(self) -> str:
        return self.urls[0]

    @property
    def urls(self) -> tuple[str, ...]:
        if self.public_urls:
            return tuple(u.rstrip("/") for u in self.public_urls)
        return (f"https://127.0.0.1:{self.port}", f"https://localhost:{self.port}")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'directory.db').resolve()}"

    @property
    def admin_profile_path(self) -> Path:
        return self.data_dir / "admin.json"

    @classmethod
    def from_settings(cls, source: SettingsSource, **overrides: object) -> DirectoryConfig:
        """Settings keys are listed in docs/settings.md; explicit overrides win."""
        values: dict[str, object] = {
            "host": source.text("directory.listen.host", DEFAULT_HOST),
            "port": source.integer("directory.listen.port", DEFAULT_PORT, maximum=65535),
            "data_dir": Path(source.text("directory.dataDir", str(DEFAULT_DATA_DIR))),
            "database_url": source.text("directory.database.url", ""),
            "default_domain": source.text("directory.tenant.domain", DEFAULT_DOMAIN),
            "token_lifetime": source.integer(
                "directory.tokens.lifetime",
                tokens.DEFAULT_TOKEN_LIFETIME_SECONDS,
                minimum=tokens.MIN_TOKEN_LIFETIME_SECONDS,
                maximum=tokens.MAX_TOKEN_LIFETIME_SECONDS,
            ),
            "publish_ahead": float(
                source.integer("directory.keys.publishAhead", tokens.DEFAULT_PUBLISH_AHEAD_SECONDS)
            ),
            "assertion_leeway": float(
                source.integer(
                    "directory.assertion.leeway", tokens.DEFAULT_LEEWAY_SECONDS, maximum=3600
                )
            ),
            "assertion_max_lifetime": float(
                source.integer(
                    "directory.assertion.maxLifetime",
                    tokens.DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS,
                    minimum=60,
                )
            ),
            "max_auth_failures": source.integer(
                "directory.auth.maxFailures", DEFAULT_MAX_FAILURES, minimum=1
            ),
            "auth_failure_window": float(
                source.integer("directory.auth.failureWindow", int(DEFAULT_WINDOW_SECONDS))
            ),
            "max_body_bytes": source.integer(
                "directory.http.maxBodyBytes", DEFAULT_MAX_BODY_BYTES, minimum=1024
            ),
            "header_timeout": float(
                source.integer(
                    "directory.http.headerTimeout", int(DEFAULT_HEADER_TIMEOUT_SECONDS), minimum=1
                )
            ),
        }
        urls = source.get("directory.publicUrls")
        if urls:
            parsed = tuple(u.strip() for u in urls.split(",") if u.strip())
            for url in parsed:
                if not url.startswith("https://"):
                    raise SettingsError("directory.publicUrls", "every URL must be https://")
            values["public_urls"] = parsed
        for key, name in (
            ("directory.tls.certificatePath", "tls_cert_path"),
            ("directory.tls.keyPath", "tls_key_path"),
            ("directory.federation.caBundle", "federation_ca_bundle"),
            ("directory.tls.caBundle", "ca_bundle"),
        ):
            path = source.get(key)
            if path:
                values[name] = Path(path)
        tenant = source.get("directory.tenant.id")
        if tenant:
            values["bootstrap_tenant_id"] = tenant.lower()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
