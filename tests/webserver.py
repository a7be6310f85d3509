"""The Flask app behind werkzeug's real HTTP server on a loopback port, for tests that need real sockets."""

from __future__ import annotations

import contextlib
import threading

from werkzeug.serving import make_server


@contextlib.contextmanager
def serving(app, port: int):
    """Serve `app` on 127.0.0.1:`port` in a thread until the block ends."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)
