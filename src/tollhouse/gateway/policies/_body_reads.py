"""Bodies read into memory for the expressions that read them.

Expressions are synchronous, so `context.Request.Body.As<T>()` cannot wait for a body still
arriving. When a configuration is applied, each policy whose attributes or text read a body
is wrapped so that the body is in memory before it runs; no other request pays for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._capacity import MAX_EXPRESSION_BODY_BYTES as MAX_EXPRESSION_BODY_BYTES
from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import PolicyContext, PolicyResponse, Step, apim_error

_READS = re.compile(r"context\s*\.\s*(Request|Response)\s*\.\s*Body\b")


def _texts(element: Element) -> list[str]:
    texts = [element.text, *element.attributes.values()]
    for child in element.children:
        texts.extend(_texts(child))
    return texts


def body_reads(element: Element) -> frozenset[str]:
    """Which bodies ("Request", "Response") the element's expressions read."""
    return frozenset(m.group(1) for text in _texts(element) for m in _READS.finditer(text))


@dataclass(frozen=True)
class ReadBodies:
    """`step`, after reading the bodies its expressions use into memory."""

    step: Step
    request: bool
    response: bool
    # The largest body read (`policies.expressions.maxBodySize`).
    limit: int = MAX_EXPRESSION_BODY_BYTES

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        if self.request and ctx.request.body.buffered is None:
            try:
                await ctx.request.body.read(limit=self.limit)
            except ValueError as exc:
                raise PolicyRuntimeError(
                    "expression",
                    "RequestBodyTooLarge",
                    "The request body is larger than policy expressions may read.",
                    response=apim_error(413, "Request Entity Too Large"),
                ) from exc
        if self.response and ctx.response.body.buffered is None:
            try:
                await ctx.response.body.read(limit=self.limit)
            except ValueError as exc:
                raise PolicyRuntimeError(
                    "expression",
                    "ResponseBodyTooLarge",
                    "The response body is larger than policy expressions may read.",
                    response=apim_error(502, "Bad Gateway"),
                ) from exc
        return await self.step(ctx)


def with_body_reads(step: Step, element: Element, limit: int = MAX_EXPRESSION_BODY_BYTES) -> Step:
    reads = body_reads(element)
    if not reads:
        return step
    return ReadBodies(step, request="Request" in reads, response="Response" in reads, limit=limit)
