"""Receivers and the LRS read a request body whole, however many pieces it arrives in, and stop past the limit."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from producers.receiving import read_body


def request_in_pieces(pieces: list[bytes], content_length: int | None, gap_s: float = 0.01) -> tuple[Any, Any]:
    """A request whose body arrives piece by piece (as TCP segments do), and the task that feeds it."""
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.transport = SimpleNamespace(is_closing=lambda: False)  # type: ignore[assignment]  # a live connection
    content = StreamReader(protocol, 2**16, loop=loop)

    async def feed() -> None:
        for piece in pieces:
            await asyncio.sleep(gap_s)
            content.feed_data(piece)
        content.feed_eof()

    return SimpleNamespace(content=content, content_length=content_length), asyncio.ensure_future(feed())


def test_a_body_in_several_pieces_is_read_whole():
    async def main() -> bytes | None:
        request, feeding = request_in_pieces([b'{"a": ', b"1, ", b'"b": 2}'], content_length=16)
        body = await read_body(request, limit=100)
        await feeding
        return body

    assert asyncio.run(main()) == b'{"a": 1, "b": 2}'


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all():
    async def main() -> tuple[bytes | None, int]:
        request, feeding = request_in_pieces([b"x" * 60, b"x" * 60, b"x" * 60], content_length=None)
        body = await read_body(request, limit=100)
        feeding.cancel()
        return body, request.content.total_bytes

    body, arrived = asyncio.run(main())
    assert body is None
    assert arrived < 180  # it stopped once past the limit


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    async def main() -> bytes | None:
        request, feeding = request_in_pieces([b"x"], content_length=101)
        body = await read_body(request, limit=100)
        feeding.cancel()
        return body

    assert asyncio.run(main()) is None


def test_an_empty_body_is_empty():
    async def main() -> bytes | None:
        request, feeding = request_in_pieces([], content_length=0)
        body = await read_body(request, limit=100)
        await feeding
        return body

    assert asyncio.run(main()) == b""
