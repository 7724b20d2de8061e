"""Bodies: read once from a stream or held in memory, always within the reader's limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tollhouse.gateway.http import Body


async def _stream(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_a_streamed_body_is_read_once_and_kept() -> None:
    body = Body(_stream([b"ab", b"c"]))
    assert body.buffered is None
    assert await body.read(limit=3) == b"abc"
    assert body.buffered == b"abc"
    assert await body.read() == b"abc"


async def test_a_streamed_body_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        await Body(_stream([b"ab", b"cd"])).read(limit=3)


async def test_a_body_in_memory_over_the_limit_is_refused_too() -> None:
    body = Body(data=b"abcd")
    with pytest.raises(ValueError):
        await body.read(limit=3)
    assert await body.read(limit=4) == b"abcd"
