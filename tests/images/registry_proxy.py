#!/usr/bin/python3
"""A test's stand-in for what stands in front of a real registry (tests/images/registry_test.cpp).

    registry_proxy.py --upstream http://127.0.0.1:PORT --mode MODE[,MODE...] --log FILE

Listens on 127.0.0.1 (a free port), prints "PORT STORAGE_PORT TLS_PORT" on stdout once it serves,
and forwards /v2/... to the upstream registry. Each request is logged to FILE as one line:
"registry GET /v2/... auth=<Authorization header or ->" ("storage ..." for the second port).

Modes (several may be given, joined by commas: token,redirect):
  open          forwards everything
  token         Docker Hub's anonymous flow (docker's token spec): /v2/... without the
                token is answered 401 with
                  WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",
                                   service="mc test registry",scope="repository:REPO:pull,push"
                /token?service=..&scope=.. hands out the token, only for exactly that service
                and a scope ending in ":pull,push", as {"token": ...}
  access_token  as token, but the answer is {"access_token": ...} (the OAuth2 name)
  basic         every /v2/ request: 401 with a Basic challenge
  badjson       manifests are answered with bytes that are not JSON
  baddigest     manifests come with a Docker-Content-Digest that is not theirs
  slow          blobs trickle out (4 KiB per 50 ms) so that a test can kill the client
  tlstoken      as token, but the realm is https://127.0.0.1:TLS_PORT/token, a third listener
                serving TLS with --tls-cert/--tls-key (a certificate the test made)
  redirect      blob requests are answered 307 to the storage port (a second listener),
                as registries send clients to S3 or a CDN; the storage listener logs
                whether an Authorization header reached it (it must not)
Only 127.0.0.1 is ever listened on or connected to.
"""
import argparse
import http.client
import http.server
import json
import secrets
import ssl
import threading
import time
import urllib.parse

args = None
modes = set()
TOKEN = secrets.token_hex(16)
SERVICE = "mc test registry"
log_lock = threading.Lock()


def log(line):
    with log_lock, open(args.log, "a") as f:
        f.write(line + "\n")


def scope_for(path):
    # /v2/<repo>/manifests/<ref> or /v2/<repo>/blobs/<digest>
    parts = path.split("?")[0].split("/")
    repo = "/".join(parts[2:-2]) if len(parts) > 4 else ""
    return "repository:%s:pull,push" % repo


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    storage = False

    def log_message(self, *a):
        pass

    def send_plain(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        auth = self.headers.get("Authorization", "-")
        who = "storage" if self.storage else "registry"
        log("%s %s %s auth=%s" % (who, self.command, self.path, auth))
        if self.storage:
            return self.forward(self.path.replace("/storage", "", 1))
        if self.path.startswith("/token"):
            return self.token()
        if not self.path.startswith("/v2/"):
            return self.send_plain(404)
        if "basic" in modes:
            return self.send_plain(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                   [("WWW-Authenticate", 'Basic realm="mc test"')])
        if modes & {"token", "access_token", "tlstoken"} and auth != "Bearer " + TOKEN:
            realm = ("https://127.0.0.1:%d/token" % args.tls_port if "tlstoken" in modes else
                     "http://127.0.0.1:%d/token" % self.server.server_port)
            challenge = 'Bearer realm="%s",service="%s",scope="%s"' % (
                realm, SERVICE, scope_for(self.path))
            return self.send_plain(
                401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                [("WWW-Authenticate", challenge), ("Content-Type", "application/json")])
        if "badjson" in modes and "/manifests/" in self.path:
            return self.send_plain(200, b"{not json",
                                   [("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
        if "redirect" in modes and "/blobs/" in self.path:
            return self.send_plain(307, b"", [("Location", "http://127.0.0.1:%d/storage%s" % (
                args.storage_port, self.path))])
        self.forward(self.path)

    def token(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        want_scope = q.get("scope", [""])[0]
        if q.get("service") != [SERVICE] or not want_scope.endswith(":pull,push"):
            return self.send_plain(400, b'{"errors":[{"code":"DENIED"}]}')
        name = "access_token" if "access_token" in modes else "token"
        body = json.dumps({name: TOKEN, "expires_in": 300}).encode()
        self.send_plain(200, body, [("Content-Type", "application/json")])

    def forward(self, path):
        up = urllib.parse.urlparse(args.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() == "accept"}
        conn.request(self.command, path, headers=headers)
        r = conn.getresponse()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() == "docker-content-digest" and "baddigest" in modes:
                v = "sha256:" + "0" * 64
            if k.lower() in ("content-type", "content-length", "docker-content-digest", "location"):
                self.send_header(k, v)
        self.end_headers()
        slow = "slow" in modes and "/blobs/" in path
        while True:
            chunk = r.read(4096 if slow else 65536)
            if not chunk:
                break
            try:
                self.wfile.write(chunk)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                break
            if slow:
                time.sleep(0.05)
        conn.close()


class StorageHandler(Handler):
    storage = True


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--mode", default="open")
    p.add_argument("--log", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    args = p.parse_args()
    modes.update(args.mode.split(","))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StorageHandler)
    args.storage_port = storage.server_port
    servers = [server, storage]
    args.tls_port = 0
    if args.tls_cert:
        tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        args.tls_port = tls.server_port
        servers.append(tls)
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(server.server_port, storage.server_port, args.tls_port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
