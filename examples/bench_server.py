#!/usr/bin/env python3
"""Stand-in Turso and GitHub APIs on Python's http.server, for
`cargo run --release --example bench -- --python`.

Written without looking at the Rust client and without the tests' fakes
(tests/common/): the standard library's HTTP/1.1 server with keep-alive, as
anyone would write it, so that the bench also runs against a server whose
timing the client's authors did not shape. It answers the seven requests of
one rotation and checks nothing (no token, no signature, no decryption):

  Turso   GET  /v1/organizations/ORG/groups/GROUP              -> {"group": {...}}
          POST /v1/organizations/ORG/groups/GROUP/auth/rotate  -> 200, empty
          POST /v1/organizations/ORG/groups/GROUP/auth/tokens  -> {"jwt": "..."}
  GitHub  GET    /repos/OWNER/REPO/actions/secrets/public-key  -> {"key_id", "key"}
          PUT    /repos/OWNER/REPO/actions/secrets/NAME        -> 201
          DELETE /repos/OWNER/REPO/actions/secrets/NAME        -> 204

Two servers, one per API, each on its own free port of 127.0.0.1, and a
third, plain HTTP, for the bench: `GET /turso` and `GET /github` answer
`REQUESTS CONNECTIONS` (requests, and TCP connections that carried one, since
the last `POST /reset`). The first line on stdout is `turso=URL github=URL
control=URL`. Runs until stdin closes.

With `--tls DIR`, the two API servers speak HTTPS: `openssl` makes a
throwaway CA and a certificate for 127.0.0.1 (ECDSA P-256) in DIR, and the
first line also names the CA: `ca=DIR/ca.pem`.

Usage: python3 examples/bench_server.py [--tls DIR]
"""

import base64
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Any 32 bytes are an X25519 public key: the client seals to it, and nobody
# here needs to open the box.
PUBLIC_KEY = base64.b64encode(os.urandom(32)).decode()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.ports = set()

    def record(self, port):
        with self.lock:
            self.requests += 1
            self.ports.add(port)

    def reset(self):
        with self.lock:
            self.requests = 0
            self.ports = set()

    def text(self):
        with self.lock:
            return f"{self.requests} {len(self.ports)}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    stats = None  # set per server
    apis = None  # the control server: {"turso": Stats, "github": Stats}

    def log_message(self, format, *args):
        pass

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_one(self):
        self.read_body()
        self.stats.record(self.client_address[1])
        self.answer(self.command, self.path.split("?", 1)[0].split("/"))

    do_GET = do_POST = do_PUT = do_DELETE = handle_one


class Control(Handler):
    def handle_one(self):
        self.read_body()
        name = self.path.strip("/")
        if self.command == "GET" and name in self.apis:
            text = self.apis[name].text().encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        elif self.command == "POST" and name == "reset":
            for stats in self.apis.values():
                stats.reset()
            self.reply(204)
        else:
            self.reply(404, {"error": "not found"})

    do_GET = do_POST = handle_one


class Turso(Handler):
    def answer(self, method, parts):
        # ['', 'v1', 'organizations', ORG, 'groups', GROUP, ...]
        if parts[1:3] != ["v1", "organizations"] or len(parts) < 6 or parts[4] != "groups":
            return self.reply(404, {"error": "not found"})
        group, tail = parts[5], parts[6:]
        if method == "GET" and not tail:
            return self.reply(200, {"group": {"name": group, "locations": ["fra"]}})
        if method == "POST" and tail == ["auth", "rotate"]:
            return self.reply(200)
        if method == "POST" and tail == ["auth", "tokens"]:
            claims = {"a": "rw", "iat": int(time.time()), "exp": int(time.time()) + 15 * 86400}
            jwt = ".".join(
                [b64url(b'{"alg":"EdDSA","typ":"JWT"}'), b64url(json.dumps(claims).encode()), b64url(os.urandom(64))]
            )
            return self.reply(200, {"jwt": jwt})
        return self.reply(404, {"error": "not found"})


class GitHub(Handler):
    def answer(self, method, parts):
        if parts[-1] == "public-key" and method == "GET":
            return self.reply(200, {"key_id": "568250167242549743", "key": PUBLIC_KEY})
        if "secrets" in parts and method == "PUT":
            return self.reply(201, {})
        if "secrets" in parts and method == "DELETE":
            return self.reply(204)
        return self.reply(404, {"message": "Not Found"})


def make_certificates(directory):
    """A CA and a certificate for 127.0.0.1 signed by it; returns their paths."""

    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return [os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")]


def serve(handler, fields, tls=None):
    handler = type(handler.__name__, (handler,), fields)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"{scheme}://127.0.0.1:{server.server_address[1]}"


def main():
    tls, ca = None, None
    if sys.argv[1:2] == ["--tls"] and len(sys.argv) == 3:
        ca, cert, key = make_certificates(sys.argv[2])
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    elif sys.argv[1:]:
        sys.exit(__doc__)
    stats = {"turso": Stats(), "github": Stats()}
    turso = serve(Turso, {"stats": stats["turso"]}, tls)
    github = serve(GitHub, {"stats": stats["github"]}, tls)
    control = serve(Control, {"apis": stats})
    print(f"turso={turso} github={github} control={control}" + (f" ca={ca}" if ca else ""), flush=True)
    sys.stdin.read()  # until the bench closes stdin


if __name__ == "__main__":
    main()
