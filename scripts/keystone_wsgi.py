"""Serves Keystone's public application on 127.0.0.1 with Python's wsgiref, one thread per
request (the shim's validations and a client's requests arrive at the same time).

It also answers GET /image-stand-in/... with an Image API version document, and nothing
else: Debian's openstackclient 6.0 builds an image client in `openstack volume create` even
when no image is named, and that client needs an image endpoint in the catalog that answers
version discovery. scripts/keystone-stack.py registers that endpoint; no image is ever served.

    python3 scripts/keystone_wsgi.py CONFIG_FILE PORT

Started by scripts/keystone-stack.py; stopped by its pid (SIGTERM).
"""
import json
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


IMAGE_PREFIX = "/image-stand-in"


def with_image_stand_in(app, port):
    doc = json.dumps({"versions": [{"id": "v2.9", "status": "CURRENT", "links": [
        {"rel": "self", "href": "http://127.0.0.1:%d%s/v2/" % (port, IMAGE_PREFIX)}]}]}).encode()

    def wrapped(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(IMAGE_PREFIX):
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(doc)))])
            return [doc]
        return app(environ, start_response)
    return wrapped


def main():
    conf, port = sys.argv[1], int(sys.argv[2])
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
    # Keystone parses sys.argv as its own command line when it loads its configuration.
    sys.argv = sys.argv[:1]
    from keystone.server.wsgi import initialize_public_application

    app = initialize_public_application()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server("127.0.0.1", port, with_image_stand_in(app, port),
                         server_class=ThreadingServer,
                         handler_class=Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
