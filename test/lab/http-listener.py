"""Sekisho lab HTTP listener: serves one directory on several address:port pairs.

usage: python3 -u http-listener.py DIR HOST:PORT [HOST:PORT ...]   ([v6]:port; [::] is dual-stack)
Logs one line per request to stderr: "<local addr> <client addr> <request> <status>".
Lab equipment only: the web server, the C&C server and lan1's listeners of test/lab.
"""
import functools
import http.server
import socket
import socketserver
import sys
import threading


def plain(addr):
    """An IPv4 client of a dual-stack socket as itself (192.0.2.10, not ::ffff:192.0.2.10)."""
    return addr[7:] if addr.startswith("::ffff:") and "." in addr else addr


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        # /hang/…: a server that takes the request and never answers (a dead list server).
        if self.path.startswith("/hang/"):
            threading.Event().wait(600)
            return
        super().do_GET()

    def log_message(self, fmt, *args):
        host, port = self.connection.getsockname()[:2]
        host, client = plain(host), plain(self.client_address[0])
        local = "[%s]:%s" % (host, port) if ":" in host else "%s:%s" % (host, port)
        sys.stderr.write("%s %s %s\n" % (local, client, fmt % args))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        if self.address_family == socket.AF_INET6 and self.server_address[0] == "::":
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Not HTTPServer.server_bind: it calls getfqdn(), a DNS lookup at start-up.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]


def main():
    directory, specs = sys.argv[1], sys.argv[2:]
    handler = functools.partial(Handler, directory=directory)
    servers = []
    for spec in specs:
        host, _, port = spec.rpartition(":")
        v6 = host.startswith("[")
        cls = type("Server6" if v6 else "Server4", (Server,),
                   {"address_family": socket.AF_INET6 if v6 else socket.AF_INET})
        servers.append(cls((host.strip("[]"), int(port)), handler))
    print("listening on " + " ".join(specs), flush=True)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


main()
