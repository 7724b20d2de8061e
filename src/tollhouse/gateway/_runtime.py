"""The gateway process: listeners, pipeline, configuration sync, heartbeats, telemetry.

Start order: the sync agent first (a backup, if valid, becomes the configuration at once),
then the listeners (probes answer 503 until a configuration is applied). Stop order on
SIGTERM (uvicorn's sequence): stop accepting, finish in-flight requests within the grace
period, then stop syncing and close the upstream pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from tollhouse.contracts import GatewayConfiguration
from tollhouse.gateway._pipeline import Pipeline
from tollhouse.gateway._settings import AUTHORITY, GatewaySettings
from tollhouse.gateway._tls import CertificateSelector
from tollhouse.gateway.http import GatewayServer, ServerLimits, UpstreamPool
from tollhouse.gateway.policies import DEFAULT_AZURE_AD_AUTHORITY, TokenServices, default_registry
from tollhouse.gateway.sync import BackupStore, ConfigClient, ConfigCredentials, SyncAgent
from tollhouse.gateway.telemetry import HeartbeatSender, Instance
from tollhouse.gateway.telemetry._metrics import RequestMetrics
from tollhouse.gateway.telemetry._prometheus import metrics_handler
from tollhouse.oidc import IssuerMetadataCache

log = logging.getLogger("tollhouse.gateway")

# In-flight requests get this long to finish on SIGTERM unless
# `net.server.http.shutdownGracePeriod` says otherwise (Kubernetes gives 30 s by default; the
# seeds' manifests set terminationGracePeriodSeconds: 60).
DEFAULT_SHUTDOWN_GRACE_SECONDS = ServerLimits().shutdown_grace
TELEMETRY_INTERVAL_SECONDS = 60.0
# A gateway serves its clients wherever it runs (a pod, a VM).
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


@dataclass
class GatewayProcess:
    settings: GatewaySettings
    pipeline: Pipeline
    server: GatewayServer
    agent: SyncAgent
    heartbeats: HeartbeatSender
    client: ConfigClient
    credentials: ConfigCredentials
    upstream: UpstreamPool
    instance: Instance
    metrics: RequestMetrics
    addresses: list[tuple[str, int]]
    signing_keys: IssuerMetadataCache
    metrics_server: GatewayServer | None = None
    _telemetry: asyncio.Task[None] | None = None

    async def _post_telemetry(self) -> None:
        while True:
            await asyncio.sleep(min(TELEMETRY_INTERVAL_SECONDS, self.settings.heartbeat_interval))
            telemetry = self.metrics.drain(self.instance.id)
            if telemetry is None:
                continue
            try:
                await self.client.telemetry(telemetry)
            except Exception as exc:  # telemetry during an outage is lost, as in APIM
                log.info("telemetry not delivered: %s", exc)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop; `grace` defaults to the server's `shutdown_grace`."""
        await self.server.shutdown(grace)
        if self.metrics_server is not None:
            await self.metrics_server.shutdown(1.0)
        if self._telemetry is not None:
            self._telemetry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._telemetry
        await self.heartbeats.stop()
        await self.agent.stop()
        await self.pipeline.one_way.close()
        await self.upstream.close()
        await self.signing_keys.aclose()
        await self.client.aclose()
        await self.credentials.close()


def trusted_proxies(settings: GatewaySettings) -> list[IPv4Network | IPv6Network]:
    """The peers whose forwarding headers are believed
    (`net.server.http.forwarded.trustedProxies`, read and checked with the other settings)."""
    return list(settings.trusted_proxies)


def token_authority(settings: GatewaySettings) -> str:
    """The Entra authority validate-azure-ad-token trusts: the one the gateway itself signs in
    with when it uses an Entra app or workload identity, else the public cloud."""
    if settings.identity is not None:
        return settings.identity.authority
    return settings.source.get(AUTHORITY) or DEFAULT_AZURE_AD_AUTHORITY


async def start_gateway(
    settings: GatewaySettings,
    *,
    host: str = ALL_INTERFACES,
    limits: ServerLimits | None = None,
) -> GatewayProcess:
    """Starts everything; `limits` (tests) replaces the server limits of the settings."""
    metrics = RequestMetrics(max_custom_series=settings.policy_limits.max_custom_series)
    upstream = UpstreamPool(settings.upstream_limits)
    signing_keys = IssuerMetadataCache(
        verify=str(settings.ca_bundle) if settings.ca_bundle is not None else None,
        user_agent="tollhouse-gateway",
    )
    tokens = TokenServices(signing_keys, azure_ad_authority=token_authority(settings))
    pipeline = Pipeline(
        upstream,
        metrics,
        honour_forwarded_proto=settings.forwarded_proto_enabled,
        trusted_proxies=settings.trusted_proxies,
        registry=default_registry(tokens, limits=settings.policy_limits),
        policy_limits=settings.policy_limits,
    )
    tls = CertificateSelector()

    async def apply(config: GatewayConfiguration) -> list[str]:
        # Compiling a large configuration takes a while: it runs in a thread, so the event
        # loop keeps serving the current one until the swap.
        compiled = await asyncio.to_thread(pipeline.prepare, config)
        unsupported = pipeline.install(compiled)
        tls.update(config)
        return unsupported

    credentials = ConfigCredentials.from_settings(settings)
    client = ConfigClient.from_settings(settings, credentials)
    backup = BackupStore(settings.backup_path) if settings.backup_enabled else None
    agent = SyncAgent(client, backup, apply, events_wait=settings.events_wait)
    instance = Instance.current(settings.deployment)
    heartbeats = HeartbeatSender(client, agent, instance, interval=settings.heartbeat_interval)
    server = GatewayServer(
        pipeline.handle, limits or settings.server_limits, starter=pipeline.start
    )

    await agent.start()
    addresses = [await server.start(host, settings.http_port)]
    addresses.append(await server.start(host, settings.https_port, ssl_context=tls.default))
    await heartbeats.start()
    metrics_server = None
    if settings.metrics_port:
        metrics_server = GatewayServer(metrics_handler(metrics, server.stats, agent))
        addresses.append(await metrics_server.start(host, settings.metrics_port))
    process = GatewayProcess(
        settings,
        pipeline,
        server,
        agent,
        heartbeats,
        client,
        credentials,
        upstream,
        instance,
        metrics,
        addresses,
        signing_keys,
    )
    process._telemetry = asyncio.create_task(process._post_telemetry())
    log.info(
        "gateway %s listening on %s (http) and %s (https); configuration from %s",
        settings.gateway_name,
        addresses[0],
        addresses[1],
        settings.endpoint,
    )
    return process


def tune_collector(young_threshold: int) -> None:
    """The garbage collector for a long-running server: what is loaded by now (modules,
    classes) is never collected, so it is set aside; the young generation is collected every
    `young_threshold` allocations instead of CPython's 700 (runtime.gc.youngThreshold)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


async def run_gateway(settings: GatewaySettings, *, host: str = ALL_INTERFACES) -> None:
    """Runs until SIGTERM or SIGINT, then stops gracefully."""
    tune_collector(settings.gc_young_threshold)
    process = await start_gateway(settings, host=host)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("stopping: finishing requests in flight")
    await process.stop()
