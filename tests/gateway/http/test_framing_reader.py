"""The request reader, fed whole and one byte at a time: the same events either way, limits
enforced with bounded input, and any input ends in events or a `Rejected`, nothing else."""

from __future__ import annotations

import random

import pytest

from tollhouse.gateway.http import ServerLimits
from tollhouse.gateway.http._framing import RequestHead
from tollhouse.gateway.http._framing_reader import (
    BodyData,
    EndOfMessage,
    Event,
    PipelineFull,
    ReaderState,
    Rejected,
    RequestReader,
)

LIMITS = ServerLimits(
    max_request_target=256, max_header_block=1024, max_header_count=20, max_body_size=4096
)
WAYS = ["whole", "bytewise"]


def feed(data: bytes, way: str, limits: ServerLimits = LIMITS) -> list[Event]:
    """All events, with consecutive body pieces merged so that both ways compare equal."""
    reader = RequestReader(limits)
    if way == "whole":
        raw = reader.receive(data)
    else:
        raw = []
        for index in range(len(data)):
            raw += reader.receive(data[index : index + 1])
    merged: list[Event] = []
    for event in raw:
        if isinstance(event, BodyData) and merged and isinstance(merged[-1], BodyData):
            merged[-1] = BodyData(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


def fed_until_rejected(data: bytes, limits: ServerLimits = LIMITS) -> tuple[int, Rejected]:
    """Feed one byte at a time until the reader refuses; how many bytes that took."""
    reader = RequestReader(limits)
    for index in range(len(data)):
        for event in reader.receive(data[index : index + 1]):
            if isinstance(event, Rejected):
                return index + 1, event
    raise AssertionError("never rejected")


def heads(events: list[Event]) -> list[RequestHead]:
    return [e for e in events if isinstance(e, RequestHead)]


@pytest.mark.parametrize("way", WAYS)
def test_a_get_is_one_head_and_an_end(way: str) -> None:
    events = feed(b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n", way)
    assert len(events) == 2 and isinstance(events[1], EndOfMessage)
    head = events[0]
    assert isinstance(head, RequestHead)
    assert (head.method, head.path, head.query, head.host) == ("GET", "/a", "b=c", "example.com")
    assert head.headers == [(b"host", b"example.com"), (b"accept", b"*/*")]


@pytest.mark.parametrize("way", WAYS)
def test_a_content_length_body_streams_in_pieces(way: str) -> None:
    events = feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", way)
    assert events[1:] == [BodyData(b"hello world"), EndOfMessage()]


@pytest.mark.parametrize("way", WAYS)
def test_a_chunked_body_drops_extensions_and_trailers(way: str) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    events = feed(data, way)
    assert events[1:] == [BodyData(b"hello world"), EndOfMessage()]
    head = events[0]
    assert isinstance(head, RequestHead) and b"x-trailer" not in dict(head.headers)


@pytest.mark.parametrize("way", WAYS)
def test_pipelined_requests_come_out_in_order(way: str) -> None:
    data = b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(3))
    assert [h.path for h in heads(feed(data, way))] == ["/0", "/1", "/2"]


SMUGGLING = [
    # Case 1: both lengths, in either order.
    ("CL+TE", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
    ("TE+CL", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
    # Case 2: bad and conflicting Content-Length.
    ("two CL", b"Content-Length: 5\r\nContent-Length: 6\r\n", 400),
    ("CL +5", b"Content-Length: +5\r\n", 400),
    ("CL -1", b"Content-Length: -1\r\n", 400),
    ("CL arabic digit", "Content-Length: ٥\r\n".encode(), 400),
    ("CL 21 digits", b"Content-Length: 123456789012345678901\r\n", 400),
    # Case 3: obfuscated Transfer-Encoding.
    ("TE xchunked", b"Transfer-Encoding: xchunked\r\n", 400),
    ("TE chunked, identity", b"Transfer-Encoding: chunked, identity\r\n", 400),
    ("two TE", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400),
    ("TE gzip, chunked", b"Transfer-Encoding: gzip, chunked\r\n", 501),
    # Case 4: line endings and folding.
    ("bare LF", b"X-A: 1\nX-B: 2\r\n", 400),
    ("obs-fold", b"X-A: 1\r\n continued\r\n", 400),
    ("space before colon", b"X-A : 1\r\n", 400),
    # Case 5: controls in values.
    ("CR in value", b"X-A: a\rb\r\n", 400),
    ("NUL in value", b"X-A: a\x00b\r\n", 400),
    ("SOH in value", b"X-A: a\x01b\r\n", 400),
    # Case 6: Host.
    ("duplicate Host", b"Host: example.com\r\n", 400),
]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("fields", "status"), [(f, s) for _, f, s in SMUGGLING], ids=[n for n, _, _ in SMUGGLING]
)
def test_a_smuggling_head_is_rejected_before_dispatch(way: str, fields: bytes, status: int) -> None:
    data = b"POST / HTTP/1.1\r\nHost: example.com\r\n" + fields + b"\r\n0\r\n\r\n"
    events = feed(data, way)
    assert heads(events) == []
    assert events == [Rejected(events[-1].error, in_body=False)]  # type: ignore[union-attr]
    last = events[-1]
    assert isinstance(last, Rejected) and last.error.status == status


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),  # bare LF after the request line
        (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET /\r\n\r\n", 505),  # HTTP/0.9
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /../etc HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    ],
)
def test_a_bad_request_line_or_target_is_rejected(way: str, data: bytes, status: int) -> None:
    events = feed(data, way)
    assert len(events) == 1
    last = events[0]
    assert isinstance(last, Rejected) and last.error.status == status and not last.in_body


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    "body",
    [
        b"ffffffffffffffffffff\r\nabc",  # chunk size overflow
        b"5\r\nhelloXX0\r\n\r\n",  # bad chunk footer
        b"5;a=b\nc\r\nhello\r\n0\r\n\r\n",  # newline in a chunk extension
        b"5\nhello\r\n0\r\n\r\n",  # bare LF after the chunk size
        b"5 \r\nhello\r\n0\r\n\r\n",  # space after the size
        b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",  # framing smuggled in trailers
        b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
    ],
)
def test_a_malformed_chunked_body_is_rejected_in_the_body(way: str, body: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    events = feed(data, way)
    assert isinstance(events[0], RequestHead)
    last = events[-1]
    assert isinstance(last, Rejected) and last.in_body and last.error.status == 400
    assert EndOfMessage() not in events


@pytest.mark.parametrize("way", WAYS)
def test_a_request_target_over_the_limit_is_414(way: str) -> None:
    data = b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    last = feed(data, way)[-1]
    assert isinstance(last, Rejected) and last.error.status == 414


def test_a_long_target_sent_byte_by_byte_is_refused_at_the_limit() -> None:
    fed, rejected = fed_until_rejected(b"GET /" + b"a" * 100_000)
    assert rejected.error.status == 414
    assert fed <= LIMITS.max_request_target + 8


@pytest.mark.parametrize("way", WAYS)
def test_a_header_block_over_the_limit_is_431(way: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n"
    last = feed(data, way)[-1]
    assert isinstance(last, Rejected) and last.error.status == 431


def test_a_huge_field_sent_byte_by_byte_is_refused_with_bounded_input() -> None:
    # httptools accumulates a field until its end: the reader counts what it is fed instead.
    fed, rejected = fed_until_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 100_000)
    assert rejected.error.status == 431
    assert fed <= LIMITS.max_request_target + LIMITS.max_header_block + 128


def test_whitespace_padding_sent_byte_by_byte_is_bounded_too() -> None:
    fed, rejected = fed_until_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b" " * 100_000)
    assert rejected.error.status == 431
    assert fed <= LIMITS.max_request_target + LIMITS.max_header_block + 128


@pytest.mark.parametrize("way", WAYS)
def test_too_many_fields_is_431(way: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 20 + b"\r\n"
    last = feed(data, way)[-1]
    assert isinstance(last, Rejected) and last.error.status == 431


@pytest.mark.parametrize("way", WAYS)
def test_a_chunked_body_over_the_limit_is_413_while_streaming(way: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    data += (b"400\r\n" + b"x" * 0x400 + b"\r\n") * 6  # 6 KiB against a 4 KiB limit
    events = feed(data, way)
    delivered = sum(len(e.data) for e in events if isinstance(e, BodyData))
    last = events[-1]
    assert isinstance(last, Rejected) and last.in_body and last.error.status == 413
    assert delivered <= 4096


@pytest.mark.parametrize("way", WAYS)
def test_trailers_over_the_limit_are_refused(way: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    data += b"X-T: " + b"t" * 2000 + b"\r\n\r\n"
    last = feed(data, way)[-1]
    assert isinstance(last, Rejected) and last.in_body and last.error.status in (400, 431)


def test_endless_chunk_extensions_are_bounded() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=" + b"y" * 50_000
    fed, rejected = fed_until_rejected(data)
    assert rejected.in_body and rejected.error.status == 400
    assert fed <= len(data) - 50_000 + LIMITS.max_header_block + 8


@pytest.mark.parametrize("way", WAYS)
def test_h2c_upgrade_is_ignored_and_the_next_request_read_as_http_1_1(way: str) -> None:
    data = (
        b"GET /first HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = feed(data, way)
    assert [h.path for h in heads(events)] == ["/first", "/second"]
    assert events.count(EndOfMessage()) == 2


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("chunked", [False, True])
def test_the_body_of_an_upgrade_request_is_read_as_its_body(way: str, chunked: bool) -> None:
    # llhttp skips the body of a request asking for an upgrade; read as HTTP/1.1 it would
    # become a smuggled request. The reader reads it as the body it is.
    smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    framing = (
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
        if chunked
        else b"Content-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    )
    data = (
        b"POST /upload HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        + framing
        + b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = feed(data, way)
    assert [h.path for h in heads(events)] == ["/upload", "/next"]
    assert BodyData(smuggled) in events


def test_more_pipelined_requests_than_the_cap_stop_the_reader() -> None:
    limits = ServerLimits(max_pipelined_requests=4)
    reader = RequestReader(limits)
    events = reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 100)
    assert len(heads(events)) == 4 and events[-1] == PipelineFull()
    assert reader.state is ReaderState.CLOSED
    assert reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_answered_requests_free_their_pipeline_slot() -> None:
    reader = RequestReader(ServerLimits(max_pipelined_requests=1))
    assert len(heads(reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))) == 1
    reader.request_done()
    assert len(heads(reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))) == 1


def test_the_end_of_the_stream_inside_a_body_makes_it_incomplete() -> None:
    reader = RequestReader(LIMITS)
    reader.receive(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhello")
    (event,) = reader.receive_eof()
    assert isinstance(event, Rejected) and event.in_body and event.error.status == 400


def test_the_end_of_the_stream_between_requests_or_in_a_head_is_quiet() -> None:
    reader = RequestReader(LIMITS)
    reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HT")
    assert reader.receive_eof() == []


def test_nothing_is_read_after_a_rejection() -> None:
    reader = RequestReader(LIMITS)
    reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert reader.state is ReaderState.CLOSED
    assert reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_any_input_yields_events_or_a_rejection_never_an_exception() -> None:
    # h11's fuzz invariant, on mutations of valid requests.
    seeds = [
        b"POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET http://a/x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
    ]
    alphabet = b"\r\n \t:;,%./0123456789abcdefABCDEF\x00\x7f\xff-_"
    rng = random.Random(4)
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data))
            action = rng.random()
            if action < 0.4:
                data[position] = rng.choice(alphabet)
            elif action < 0.7:
                data.insert(position, rng.choice(alphabet))
            else:
                del data[position]
        reader = RequestReader(LIMITS)
        cut = rng.randrange(len(data) + 1)
        events = reader.receive(bytes(data[:cut])) + reader.receive(bytes(data[cut:]))
        events += reader.receive_eof()
        for event in events[:-1]:
            assert not isinstance(event, Rejected | PipelineFull)
