"""Python asyncio peer for `make bench`: aiohttp, /hello, /sleep?ms=N (asyncio.sleep),
/gather?ms=A,B,.. (asyncio.gather). Prints "listening on HOST:PORT (pid N)" to stderr
like iobound. No access log. Usage: aiohttp_server.py [PORT]"""
import asyncio
import os
import socket
import sys

from aiohttp import web


def parse_ms(text):
    ms = int(text)
    if not 0 <= ms <= 30000:
        raise ValueError("ms must be 0..30000")
    return ms


async def hello(request):
    return web.Response(text="hello\n")


async def sleep(request):
    try:
        ms = parse_ms(request.query.get("ms", ""))
    except ValueError:
        raise web.HTTPBadRequest(text="ms must be 0..30000")
    await asyncio.sleep(ms / 1000)
    return web.json_response({"slept_ms": ms})


async def gather(request):
    try:
        waits = [parse_ms(p) for p in request.query.get("ms", "").split(",")]
    except ValueError:
        raise web.HTTPBadRequest(text="ms must be 0..30000")
    await asyncio.gather(*(asyncio.sleep(ms / 1000) for ms in waits))
    return web.json_response({"tasks": len(waits)})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    host, bound = sock.getsockname()
    print(f"aiohttp: listening on {host}:{bound} (pid {os.getpid()})", file=sys.stderr, flush=True)
    app = web.Application()
    app.add_routes([web.get("/hello", hello), web.get("/sleep", sleep), web.get("/gather", gather)])
    web.run_app(app, sock=sock, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
