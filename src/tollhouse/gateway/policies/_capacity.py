"""Every operator limit of the policy engine, with its reason.

The constants are the defaults; `PolicyLimits` collects them and the gateway settings
(`policies.*`, `telemetry.metrics.maxCustomSeries`) set its fields. A registry carries one
(`default_registry(limits=…)`), each `CompileContext` hands it to the compile functions, and
they capture the values into the steps they build: nothing reads a limit at request time
from anywhere else. Sizes are bytes.

Limits that are APIM's own documented rules (send-request's timeout of at most 300 s,
rate-limit's renewal-period, emit-metric's 10 dimensions, retry's count) are not here: they
stay constants next to their policies, not the operator's to change.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tollhouse.gateway.limits._store import MAX_KEYS

KiB = 1024
MiB = 1024 * KiB

# --- bodies held in memory -----------------------------------------------------------------

# forward-request buffer-request-body="true" holds the request body in memory up to this size.
MAX_BUFFERED_BODY_BYTES = 10 * MiB
# The largest body an expression may read; as forward-request's buffer-request-body limit.
MAX_EXPRESSION_BODY_BYTES = 10 * MiB
# A body is held whole in memory to be converted; its parsed form costs several times its
# size. 4 MiB covers real JSON/XML payloads and bounds one request's memory.
MAX_CONVERTED_BODY_BYTES = 4 * MiB
# send-request's response body is held in memory for expressions; the same bound as
# forward-request's buffer-request-body, so no kind of buffering holds more than another.
MAX_RESPONSE_BODY_BYTES = 10 * MiB
# send-request mode="copy" reads the client's body into memory to send it twice; same bound.
MAX_COPIED_BODY_BYTES = 10 * MiB

# --- outgoing calls ------------------------------------------------------------------------

# send-one-way-request calls one gateway keeps in flight; beyond it a call is dropped (and
# logged) so that a slow or dead target cannot grow memory and sockets without bound. A
# tenth of the upstream pool's connections per origin, so they never starve forwarding.
MAX_ONE_WAY_IN_FLIGHT = 10

# --- policy documents ----------------------------------------------------------------------

# APIM refuses policy documents above 256 KiB ("API Management limits": maximum policy
# document size); the same bound keeps a hostile configuration from costing us memory.
MAX_DOCUMENT_BYTES = 256 * KiB
# Real documents nest a handful of levels (policies/section/choose/when/policy/child); 32
# leaves room for nested choose while bounding recursion in compilation.
MAX_DEPTH = 32
# Bounds the work of one compilation; the largest real documents have a few hundred elements.
MAX_ELEMENTS = 10_000
# Real fragments include at most one or two others; eight levels leave room for layered
# shared policy while bounding the compile work a chain of fragments can cause.
MAX_FRAGMENT_NESTING = 8

# --- emit-metric ---------------------------------------------------------------------------

# Distinct (namespace, name, dimensions) series of emit-metric kept for Prometheus; dimension
# values come from requests, so past this new series are dropped (and counted), not kept.
MAX_CUSTOM_SERIES = 2_000

# --- what a setting may ask for ------------------------------------------------------------

# Compiling recurses a few frames per level of nesting, and the levels of each fragment an
# include-fragment brings in add to those of the document including it: depth × (nesting + 1)
# levels at worst. The defaults' product keeps that far from Python's recursion limit (1000
# frames); a setting may trade one for the other, not raise both, so that nesting always ends
# in our compile error rather than a RecursionError.
MOST_NESTED_LEVELS = MAX_DEPTH * (MAX_FRAGMENT_NESTING + 1)


@dataclass(frozen=True)
class PolicyLimits:
    """The policy engine's operator limits; the defaults are the constants above and the
    counter store's `MAX_KEYS`."""

    # Bodies read into memory (bytes).
    max_expression_body: int = MAX_EXPRESSION_BODY_BYTES
    max_buffered_body: int = MAX_BUFFERED_BODY_BYTES
    max_converted_body: int = MAX_CONVERTED_BODY_BYTES
    max_send_response_body: int = MAX_RESPONSE_BODY_BYTES
    max_copied_body: int = MAX_COPIED_BODY_BYTES
    # send-one-way-request calls in flight per gateway.
    max_one_way_in_flight: int = MAX_ONE_WAY_IN_FLIGHT
    # Policy documents (and policy fragments, and XML bodies parsed by xml-to-json).
    max_document_size: int = MAX_DOCUMENT_BYTES
    max_document_depth: int = MAX_DEPTH
    max_document_elements: int = MAX_ELEMENTS
    max_fragment_nesting: int = MAX_FRAGMENT_NESTING
    # Keys the in-memory counter store keeps per kind (rate-limit*, quota*).
    max_counter_keys: int = MAX_KEYS
    # emit-metric series kept for Prometheus (`RequestMetrics(max_custom_series=…)`).
    max_custom_series: int = MAX_CUSTOM_SERIES

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if type(value) is not int or value < 1:
                raise ValueError(f"PolicyLimits.{item.name} must be a whole number of at least 1")
        levels = self.max_document_depth * (self.max_fragment_nesting + 1)
        if levels > MOST_NESTED_LEVELS:
            # Named first: the one raised above its default (the key the error is about).
            raised = (
                "max_fragment_nesting"
                if self.max_fragment_nesting > MAX_FRAGMENT_NESTING
                else "max_document_depth"
            )
            raise ValueError(
                f"PolicyLimits.{raised}: max_document_depth × (max_fragment_nesting + 1) must "
                f"be at most {MOST_NESTED_LEVELS}, not {levels}"
            )


DEFAULT_POLICY_LIMITS = PolicyLimits()
