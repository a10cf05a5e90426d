#!/usr/bin/env python3
"""Real proxies in front of iobound on loopback, fed the smuggling corpus (tests/proxy/cases.tsv).

  client -> proxy (haproxy | nginx | varnish | squid | none) -> tap -> iobound

The tap is a byte relay that records what the proxy forwards and what iobound answers. For each
case the client sends the bytes, reads every answer, then sends GET /status/226 on the same
connection (when still open) and on a new one. A 418 anywhere, or a probe answered by anything
but its own 226, is a desync; every other outcome (the proxy refuses, iobound refuses, or both
agree and serve) is fine. Prints one table per proxy and model and exits 1 on a desync, 77 when
a proxy named in --proxies is not installed (ctest: skipped), 2 on usage errors.

Every model of `BIN --list-modes=json` by default (--modes or --mode pick some), each with its
own iobound, taps and proxies on ports of their own, the models side by side (--jobs).

  run.py --bin build/iobound [--modes evented,threaded | --mode evented] [--jobs N]
         [--proxies haproxy,nginx,varnish,squid,none] [--cases a,b,...] [--markdown FILE]
         [--time-scale N]

Loopback only, every wait bounded; the processes it starts are stopped by their pid.
"""
import argparse
import concurrent.futures
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import serverproc  # noqa: E402  (tests/serverproc.py)
PROBE = b"GET /status/226 HTTP/1.1\r\nHost: probe\r\n\r\n"
# iobound keeps idle upstream connections longer than any proxy here keeps them in its pool
# (nginx's and Varnish's 60 s), as a backend behind a proxy must: with the default 5 s, haproxy
# can reuse a connection iobound is closing at that moment and answer 502 (seen under load).
SMUGGLED_STATUS = 418
PROBE_STATUS = 226
READ_IDLE_S = 0.4   # an answer is complete once the connection is quiet this long (scaled)
READ_TOTAL_S = 3.0  # and never wait longer than this for one case (scaled)
time_scale = 1      # --time-scale: sanitized builds answer slower
START_S = 10.0


def unescape(s):
    """The corpus escapes (see cases.tsv) -> bytes."""
    out = bytearray()
    i = 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        e = s[i + 1]
        if e in "rnt\\":
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[e]
            i += 2
        elif e == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif e == "{":
            m = re.match(r"\{(\d+)\*(.)\}", s[i + 1:])
            if not m:
                raise ValueError("bad \\{N*c} escape in %r" % s)
            out += m.group(2).encode() * int(m.group(1))
            i += 1 + m.end()
        else:
            raise ValueError("unknown escape \\%s in %r" % (e, s))
    data = bytes(out)
    if b"{BODYLEN}" in data:
        body = data.split(b"\r\n\r\n", 1)[1]
        data = data.replace(b"{BODYLEN}", str(len(body)).encode())
    return data


def read_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                sys.exit("%s:%d: want name, request, what it probes (3 tab-separated fields)"
                         % (path, lineno))
            cases.append((fields[0], unescape(fields[1]), fields[2]))
    return cases


def parse_responses(data):
    """Splits bytes from a server into responses. Returns ([status, ...], rest): rest holds what
    is not a whole response (a close-delimited body counts as whole)."""
    statuses = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head = data[:end].decode("latin-1")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head)
        if not m:
            break
        status = int(m.group(1))
        body = data[end + 4:]
        fields = {}
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), value.strip())
        if status < 200 or status in (204, 304):
            used = 0
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            used = chunked_length(body)
            if used is None:
                break
        elif "content-length" in fields:
            used = int(fields["content-length"])
            if len(body) < used:
                break
        else:
            used = len(body)  # to the close
        statuses.append(status)
        data = body[used:]
    return statuses, data


def chunked_length(body):
    """Bytes of a whole chunked body at the start of body, or None when it is incomplete or not
    plainly well-formed."""
    i = 0
    while True:
        eol = body.find(b"\r\n", i)
        if eol < 0:
            return None
        size_text = body[i:eol].split(b";")[0]
        if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_text):
            return None
        size = int(size_text, 16)
        i = eol + 2
        if size == 0:
            end = body.find(b"\r\n\r\n", i - 2)
            return None if end < 0 else end + 4
        i += size + 2
        if i > len(body):
            return None


# A header line as RFC 9112 has it: a token, a colon, a value; no fold, no bare CR or LF.
CLEAN_FIELD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]*[^\r\n\x00]*")


def summarize_requests(data):
    """What a proxy forwarded on one upstream connection, framing only: (a list of
    'POST /echo CL=3', ...; anything it cannot frame is shown as raw bytes, and whether every
    request was framed without doubt: clean header lines, and one Content-Length or
    Transfer-Encoding: chunked, not both)."""
    parts = []
    clean = True
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            parts.append("%d raw bytes" % len(data))
            clean = False
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        fields = {}
        clean = clean and all(CLEAN_FIELD.fullmatch(line) for line in lines[1:])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
        req = " ".join(lines[0].split(" ")[:2])
        body = data[end + 4:]
        te = ",".join(fields.get("transfer-encoding", []))
        cl = fields.get("content-length", [])
        clean = clean and not (te and cl) and len(cl) <= 1 and te.lower() in ("", "chunked")
        if te:
            req += " TE=" + te + (" CL=" + ",".join(cl) if cl else "")
            used = chunked_length(body) if "chunked" in te.lower() else len(body)
        elif cl:
            req += " CL=" + ",".join(cl)
            used = int(cl[0]) if cl[0].isdigit() else len(body)
        else:
            used = 0
        if used is None:
            used = len(body)
            req += " (unframed)"
            clean = False
        if not req.startswith("GET /status/%d" % PROBE_STATUS):
            parts.append(req)
        data = body[used:]
    return parts, clean


class Tap:
    """A loopback relay to iobound that records every byte, per connection and direction."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.events = []  # (conn id, "up" | "down", bytes)
        self.last_s = time.monotonic()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            self.conns += 1
            cid = self.conns
            threading.Thread(target=self._pump, args=(cid, down, up), daemon=True).start()

    def _pump(self, cid, down, up):
        pairs = {down: (up, "up"), up: (down, "down")}
        open_ends = {down, up}
        while open_ends:
            ready, _, _ = select.select(list(open_ends), [], [], 30)
            if not ready:
                break
            for s in ready:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                peer, direction = pairs[s]
                if not data:
                    open_ends.discard(s)
                    try:
                        peer.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                with self.lock:
                    self.events.append((cid, direction, data))
                    self.last_s = time.monotonic()
                try:
                    peer.sendall(data)
                except OSError:
                    open_ends.clear()
        down.close()
        up.close()

    def mark(self):
        with self.lock:
            return len(self.events)

    def quiet(self, idle_s=0.3, limit_s=3.0):
        """Waits until nothing passed for idle_s, counted from now at the earliest: a proxy may
        talk to the backend after it answered the client (Varnish does), and that traffic
        belongs to the case just sent. Waits at most limit_s."""
        start = time.monotonic()
        end = start + limit_s
        while time.monotonic() < end:
            with self.lock:
                if time.monotonic() - max(self.last_s, start) >= idle_s:
                    return
            time.sleep(0.02)

    def since(self, mark):
        """(what was forwarded, iobound's statuses, whether the proxy forwarded the smuggled GET
        as a request of its own, on a connection where every request was framed without doubt)
        after mark, per upstream connection, the probes (GET /status/226) left out."""
        with self.lock:
            events = self.events[mark:]
        ups, downs = {}, {}
        for cid, direction, data in events:
            (ups if direction == "up" else downs).setdefault(cid, bytearray()).extend(data)
        framed = [summarize_requests(bytes(d)) for d in ups.values()]
        forwarded = "; ".join(" + ".join(p) for p, _ in framed if p) or "nothing"
        as_request = any(clean and any(r.startswith("GET /status/%d" % SMUGGLED_STATUS)
                                       for r in p) for p, clean in framed)
        statuses = []
        for d in downs.values():
            statuses += [x for x in parse_responses(bytes(d))[0] if x != PROBE_STATUS]
        return forwarded, statuses, as_request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, name):
    end = time.monotonic() + START_S
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d at start" % (name, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %d within %.0f s" % (name, port, START_S))


HAPROXY_CFG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout http-request 5s
    option http-keep-alive
    http-reuse always
frontend front
    bind 127.0.0.1:{port}
    default_backend iobound
backend iobound
    server tap 127.0.0.1:{tap}
"""

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream iobound {{ server 127.0.0.1:{tap}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://iobound;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""

VARNISH_VCL = """\
vcl 4.1;
backend iobound {{ .host = "127.0.0.1"; .port = "{tap}"; }}
sub vcl_recv {{ return (pass); }}
"""

# A reverse proxy (accel) to one origin, caching nothing, both sides kept alive.
SQUID_CONF = """\
http_port 127.0.0.1:{port} accel defaultsite=iobound no-vhost
cache_peer 127.0.0.1 parent {tap} 0 no-query originserver name=iobound
cache_peer_access iobound allow all
never_direct allow all
http_access allow all
cache deny all
cache_mem 8 MB
access_log none
cache_log {dir}/cache.log
pid_filename {dir}/squid.pid
coredump_dir {dir}
netdb_filename none
pinger_enable off
visible_hostname iobound-proxy-test
shutdown_lifetime 1 seconds
"""


class Proxy:
    """One proxy process in front of the tap, started from a config written to a temp dir."""

    BINARIES = {"haproxy": "haproxy", "nginx": "nginx", "varnish": "varnishd", "squid": "squid",
                "none": None}

    def __init__(self, name, tap_port, workdir):
        self.name = name
        self.proc = None
        self.log = None
        if name == "none":
            self.port = tap_port
            return
        self.port = free_port()
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        self.log = open(os.path.join(d, "stderr"), "w+b")
        if name == "haproxy":
            cfg = os.path.join(d, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_CFG.format(port=self.port, tap=tap_port))
            argv = ["haproxy", "-db", "-f", cfg]
        elif name == "nginx":
            cfg = os.path.join(d, "nginx.conf")
            with open(cfg, "w") as f:
                f.write(NGINX_CONF.format(port=self.port, tap=tap_port, dir=d))
            argv = ["nginx", "-p", d, "-c", cfg, "-e", os.path.join(d, "error.log")]
        elif name == "squid":
            cfg = os.path.join(d, "squid.conf")
            with open(cfg, "w") as f:
                f.write(SQUID_CONF.format(port=self.port, tap=tap_port, dir=d))
            # Started as root, squid works as its own user (proxy): its files go in d.
            os.chmod(workdir, 0o755)
            os.chmod(d, 0o777)
            argv = ["squid", "-N", "-f", cfg]
        else:
            vcl = os.path.join(d, "default.vcl")
            with open(vcl, "w") as f:
                f.write(VARNISH_VCL.format(tap=tap_port))
            # varnishd compiles the VCL as its own unprivileged user.
            os.chmod(workdir, 0o755)
            os.chmod(d, 0o755)
            # -F: foreground, so the pid we hold is the manager's; its child dies with it.
            argv = ["varnishd", "-F", "-n", os.path.join(d, "work"), "-a",
                    "127.0.0.1:%d" % self.port, "-f", vcl, "-s", "malloc,16m",
                    "-T", "127.0.0.1:%d" % free_port()]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, self.proc, name)
        except RuntimeError:
            self.stop()
            with open(os.path.join(d, "stderr"), errors="replace") as f:
                sys.stderr.write(f.read())
            raise

    def version(self):
        if self.name == "none":
            return "no proxy: client -> tap -> iobound"
        argv = {"haproxy": ["haproxy", "-v"], "nginx": ["nginx", "-v"],
                "varnish": ["varnishd", "-V"], "squid": ["squid", "-v"]}[self.name]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]

    def stop(self):
        if self.proc:
            serverproc.stop(self.proc, 10)
        if self.log:
            self.log.close()


def exchange(port, data, until=None):
    """Sends data on a new connection and reads the answers (see read_answers)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(data)
    return read_answers(s, until)


def read_answers(s, until=None, got=b""):
    """Reads (after the bytes already got) until the peer closes, until an answer with status
    `until` is in, or, when until is None, until it is quiet for READ_IDLE_S. Returns (the
    socket, or None when the peer closed, the statuses, the bytes that are no whole answer)."""
    got = bytearray(got)
    end = time.monotonic() + READ_TOTAL_S * time_scale
    closed = False
    while time.monotonic() < end:
        idle_s = READ_IDLE_S * time_scale if until is None else end - time.monotonic()
        ready, _, _ = select.select([s], [], [], max(idle_s, 0))
        if not ready:
            break
        try:
            chunk = s.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            closed = True
            break
        got += chunk
        if until and until in parse_responses(bytes(got))[0]:
            break
    statuses, rest = parse_responses(bytes(got))
    if closed:
        s.close()
        s = None
    return s, statuses, rest


def fmt(statuses):
    return ",".join(str(x) for x in statuses) or "-"


def run_case(front, tap, name, data):
    """One case through one front port. Returns a result row (a dict)."""
    mark = tap.mark()
    s, answers, rest = exchange(front, data)
    same_status = None  # the connection was closed before the probe
    if s is not None:
        try:
            s.sendall(PROBE)
            s, got, rest = read_answers(s, until=PROBE_STATUS, got=rest)
        except OSError:
            s, got = None, []
        # Answers before the probe's own are the case's, late (a slow proxy or machine): in
        # order, the probe's answer is the first after them. A smuggled answer is a 418.
        late = got[:got.index(PROBE_STATUS)] if PROBE_STATUS in got else []
        answers += late
        same_status = got[len(late):]
        if s is not None:
            s.close()
        elif not same_status:
            same_status = None
    s3, fresh_status, fresh_rest = exchange(front, PROBE, until=PROBE_STATUS)
    if s3:
        s3.close()
    tap.quiet()
    forwarded, upstream, split = tap.since(mark)
    problems = []
    # The proxy itself read the client's bytes as two requests and forwarded the GET as one
    # (iobound answered what it was sent): the proxy's reading, noted, not a desync between
    # it and iobound. A 418 iobound answered from inside a forwarded body is one.
    split = split and upstream.count(SMUGGLED_STATUS) == 1
    if SMUGGLED_STATUS in answers + (same_status or []) + fresh_status + upstream and not split:
        problems.append("the smuggled GET /status/418 was served")
    if same_status is not None and same_status != [PROBE_STATUS]:
        problems.append("the next request on the same connection got %s" % fmt(same_status))
    if fresh_status != [PROBE_STATUS]:
        problems.append("a new connection's request got %s" % fmt(fresh_status))
    if rest or fresh_rest:
        problems.append("%d bytes after the answers are not a response" % len(rest + fresh_rest))
    return {
        "name": name, "client": fmt(answers) + (" +%dB" % len(rest) if rest else ""),
        "forwarded": forwarded, "iobound": fmt(upstream),
        "same": "closed" if same_status is None else fmt(same_status), "fresh": fmt(fresh_status),
        "ok": not problems, "problems": problems, "split": split,
    }


def verdict(r):
    if not r["ok"]:
        return "DESYNC: " + "; ".join(r["problems"])
    return "PROXY SPLIT: it forwarded the smuggled GET as a request" if r["split"] else "ok"


def table(rows, markdown):
    head = ["case", "proxy answered", "proxy forwarded", "iobound answered", "next on same conn",
            "new conn", "verdict"]
    cells = [[r["name"], r["client"], r["forwarded"], r["iobound"], r["same"], r["fresh"],
              verdict(r)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *cells)]
    widths[2] = min(widths[2], 60)
    return "\n".join("  ".join(c[:w].ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [head] + cells)


def matrix(results):
    """One Markdown table over every proxy: per case, client answers / iobound answers / the
    next request on the same connection."""
    names = list(results)
    head = ["case"] + names
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for i, row in enumerate(results[names[0]]):
        cells = [row["name"]]
        for n in names:
            r = results[n][i]
            cell = "%s / %s / %s" % (r["client"], r["iobound"], r["same"])
            cells.append(cell if r["ok"] and not r["split"] else
                         ("**split** " if r["ok"] else "**DESYNC** ") + cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def list_modes(binary):
    """The models `binary --list-modes=json` names, in its order."""
    out = subprocess.run([binary, "--list-modes=json"], capture_output=True, timeout=10)
    if out.returncode != 0:
        raise RuntimeError("%s --list-modes=json exited %d: name the models with --modes"
                           % (binary, out.returncode))
    return [m["name"] for m in json.loads(out.stdout)]


def run_mode(args, mode, proxies, cases):
    """Every case through every proxy in front of one iobound in this mode. Returns
    {"results": {proxy: rows}, "titles": {proxy: title}, "rc": iobound's exit code, or None
    when it died during the run}."""
    workdir = tempfile.mkdtemp(prefix="iobound-proxy-%s-" % mode)
    iob, iob_port, iob_err = serverproc.start(args.bin, mode,
                                              os.path.join(workdir, "iobound.stderr"),
                                              ["--set", "log.access_log=off",
                                               "--set", "limits.idle_timeout_ms=120000"])
    out = {"results": {}, "titles": {}, "rc": None}
    try:
        for name in proxies:
            tap = Tap(iob_port)
            proxy = Proxy(name, tap.port, workdir)
            try:
                out["results"][name] = [run_case(proxy.port, tap, c[0], c[1]) for c in cases]
                out["titles"][name] = "%s (%s), iobound %s mode" % (name, proxy.version(), mode)
            finally:
                proxy.stop()
            if iob.poll() is not None:
                return out
    finally:
        rc = serverproc.stop(iob, 15)
        iob_err.close()
        shutil.rmtree(workdir, ignore_errors=True)
    out["rc"] = rc
    return out


def differences(base, other):
    """The cells (case, proxy) where other's outcome is not base's, as Markdown lines."""
    lines = []
    for name, rows in other["results"].items():
        for r, b in zip(rows, base["results"].get(name, [])):
            cell, base_cell = ("%s / %s / %s" % (x["client"], x["iobound"], x["same"])
                               for x in (r, b))
            if cell != base_cell:
                lines.append("- %s through %s: %s (there: %s)" % (r["name"], name, cell,
                                                                   base_cell))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--modes", default="", help="models, comma- or space-separated (default: "
                    "every one of --list-modes=json)")
    ap.add_argument("--mode", help="one model (the same as --modes MODE)")
    ap.add_argument("--jobs", type=int, default=0, help="models at once (default: all)")
    ap.add_argument("--proxies", default="haproxy,nginx,varnish,squid,none")
    ap.add_argument("--cases", default="", help="comma-separated names (default: all)")
    ap.add_argument("--markdown", help="also write the tables as Markdown to this file")
    ap.add_argument("--time-scale", type=int, default=1, help="multiply the read waits by it")
    args = ap.parse_args()
    global time_scale
    time_scale = max(args.time_scale, 1)
    proxies = [p for p in args.proxies.split(",") if p]
    for p in proxies:
        if p not in Proxy.BINARIES:
            ap.error("unknown proxy %s; allowed: %s" % (p, ", ".join(Proxy.BINARIES)))
        binary = Proxy.BINARIES[p]
        if binary and not shutil.which(binary) and not os.path.exists("/usr/sbin/" + binary):
            print("SKIP: %s not installed (./.ci/install-deps %s)" % (binary, p))
            return 77
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    cases = read_cases(os.path.join(HERE, "cases.tsv"))
    if args.cases:
        wanted = args.cases.split(",")
        unknown = set(wanted) - {c[0] for c in cases}
        if unknown:
            ap.error("unknown cases: %s" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c[0] in wanted]
    modes = [args.mode] if args.mode else [m for m in re.split(r"[ ,]+", args.modes) if m]
    modes = modes or list_modes(args.bin)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs or len(modes)) as pool:
        runs = dict(zip(modes, pool.map(lambda m: run_mode(args, m, proxies, cases), modes)))
    failed, splits = [], []
    out_md = []
    for mode, run in runs.items():
        for name, rows in run["results"].items():
            bad = [r for r in rows if not r["ok"]]
            failed += ["%s/%s/%s" % (mode, name, r["name"]) for r in bad]
            splits += ["%s/%s/%s" % (mode, name, r["name"]) for r in rows if r["split"]]
            print("\n== %s: %d cases, %d desync" % (run["titles"][name], len(rows), len(bad)))
            print(table(rows, False))
            if mode == modes[0]:
                out_md.append("**%s**: %d cases, %d desync\n\n%s\n" % (
                    run["titles"][name], len(rows), len(bad), table(rows, True)))
        if run["rc"] is None:
            print("FAIL: iobound (%s) exited during the run" % mode)
            failed.append("%s: iobound died" % mode)
        elif run["rc"] != 0:
            print("FAIL: iobound (%s) exited %d after SIGTERM" % (mode, run["rc"]))
            failed.append("%s: exit %d" % (mode, run["rc"]))
    base = runs[modes[0]]
    same = ["The other models, cell by cell against %s:" % modes[0]]
    for mode in modes[1:]:
        diff = differences(base, runs[mode])
        same.append("- %s: %s" % (mode, "the same in every cell" if not diff else
                                  "%d cells differ" % len(diff)))
        same += ["  " + line for line in diff]
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("Models: %s. Each cell (%s mode): what the client got / what iobound answered "
                    "the proxy / the answer to the next request on the same client "
                    "connection.\n\n" % (", ".join(modes), modes[0]))
            f.write(matrix(base["results"]) + "\n\n")
            if len(modes) > 1:
                f.write("\n".join(same) + "\n\n")
            f.write("\n".join(out_md))
    if len(modes) > 1:
        print("\n" + "\n".join(same))
    if splits:
        print("NOTE: %d case(s) where a proxy itself read the client's bytes as two requests and "
              "forwarded the smuggled GET as one (not a desync with iobound): %s"
              % (len(splits), ", ".join(splits)))
    if failed:
        print("FAIL: %d desync(s) or failed runs: %s" % (len(failed), ", ".join(failed)))
        return 1
    print("\nok: no desync in %s; every probe got its own answer" % ", ".join(modes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
