"""Serves Cinder's own API (Debian's python3-cinder, the osapi_volume application of the
configuration's api_paste_config) on 127.0.0.1 with Python's wsgiref, one thread per request,
as scripts/keystone_wsgi.py serves Keystone. The interop suite runs it beside a real
cinder-scheduler, with volmgr's manager as the volume service (tests/interop/test_scheduler.py).

    python3 scripts/cinder_api_wsgi.py CONFIG_FILE PORT

Stopped by its pid (SIGTERM).
"""
import signal
import sys
from wsgiref.simple_server import make_server

from keystone_wsgi import Handler, ThreadingServer


def main():
    conf, port = sys.argv[1], int(sys.argv[2])
    # Cinder's initialize_application reads its command line from sys.argv.
    sys.argv = [sys.argv[0], "--config-file", conf]
    from cinder.wsgi.wsgi import initialize_application

    app = initialize_application()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = make_server("127.0.0.1", port, app, server_class=ThreadingServer,
                         handler_class=Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
