"""Python thread-per-connection peer for `make bench`: http.server.ThreadingHTTPServer,
/hello, /sleep?ms=N (time.sleep), /gather?ms=A,B,.. (one thread per wait, joined).
HTTP/1.1 keep-alive, TCP_NODELAY and a 4096 listen backlog (the stdlib defaults, HTTP/1.0,
Nagle and 5, would measure reconnects, delayed ACKs and SYN drops instead of the model). Prints "listening on HOST:PORT
(pid N)" to stderr like iobound. No request log. Usage: threading_server.py [PORT]"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def parse_ms(text):
    ms = int(text)
    if not 0 <= ms <= 30000:
        raise ValueError("ms must be 0..30000")
    return ms


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

    def log_message(self, format, *args):
        pass

    def reply(self, status, ctype, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        ms_arg = parse_qs(url.query).get("ms", [""])[0]
        try:
            if url.path == "/hello":
                self.reply(200, "text/plain", "hello\n")
            elif url.path == "/sleep":
                ms = parse_ms(ms_arg)
                time.sleep(ms / 1000)
                self.reply(200, "application/json", json.dumps({"slept_ms": ms}))
            elif url.path == "/gather":
                waits = [parse_ms(p) for p in ms_arg.split(",")]
                tasks = [threading.Thread(target=time.sleep, args=(ms / 1000,)) for ms in waits]
                for t in tasks:
                    t.start()
                for t in tasks:
                    t.join()
                self.reply(200, "application/json", json.dumps({"tasks": len(waits)}))
            else:
                self.reply(404, "text/plain", "not found\n")
        except ValueError:
            self.reply(400, "text/plain", "ms must be 0..30000\n")


class Server(ThreadingHTTPServer):
    request_queue_size = 4096
    daemon_threads = True


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = Server(("127.0.0.1", port), Handler)
    host, bound = server.server_address
    print(f"threading: listening on {host}:{bound} (pid {os.getpid()})", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
