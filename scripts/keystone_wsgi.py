"""Serves Keystone's public application on 127.0.0.1 with Python's wsgiref, one thread per
request (the shim's validations and a client's requests arrive at the same time).

    python3 scripts/keystone_wsgi.py CONFIG_FILE PORT

Started by scripts/keystone-stack.py; stopped by its pid (SIGTERM).
"""
import os
import signal
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # A client that opens many connections at once (the shim's offload threads, a test's
    # clients) must not be refused by a short listen backlog.
    request_queue_size = 128


class Handler(WSGIRequestHandler):
    # One line per request on stderr (the log file), without the client's reverse lookup.
    def address_string(self):
        return self.client_address[0]


def main():
    conf, port = sys.argv[1], int(sys.argv[2])
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
    # Keystone parses sys.argv as its own command line when it loads its configuration.
    sys.argv = sys.argv[:1]
    from keystone.server.wsgi import initialize_public_application

    app = initialize_public_application()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server("127.0.0.1", port, app, server_class=ThreadingServer,
                         handler_class=Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
