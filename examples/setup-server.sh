#!/bin/sh
# One server for all workers (the WorkersSetup pattern of Delphyne): a
# setup that starts a small HTTP server, prints its port, and leaves it
# running for the whole run. exp-run stops it when the run ends, however
# it ends.
#
#   exp-init runs/sq -- python3 ask.py '{x}'     # ask.py reads $PORT
#   exp-add runs/sq --grid x=1..100
#   exp-run runs/sq -j 8 --setup 'sh examples/setup-server.sh'
#
# The setup is done when its own process exits: here the server forks, the
# parent prints PORT=... and exits, the child serves. Each runner runs its
# own setup (an array of 3 Slurm tasks starts 3 servers), so the server
# picks a free port (port 0) rather than a fixed one. What it prints later
# goes to DIR/.exp/setup-RUNNER.log.
#
# The server answers GET /square?x=N with one JSON line:
#   {"x": N, "square": N*N, "server_pid": PID, "requests": COUNT}
exec python3 - <<'EOF'
import http.server
import json
import os
import sys
import threading
import urllib.parse

count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global count
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        try:
            x = int(query["x"][0])
        except (KeyError, ValueError):
            self.send_error(400, "expected /square?x=N")
            return
        with lock:
            count += 1
            n = count
        body = json.dumps({"x": x, "square": x * x, "server_pid": os.getpid(), "requests": n})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode() + b"\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if os.fork() > 0:
    # The parent is the setup: it says where the server listens and exits.
    print(f"PORT={server.server_address[1]}", flush=True)
    os._exit(0)
# The child serves until exp-run stops it (SIGTERM ends Python at once).
sys.stdin.close()
server.serve_forever()
EOF
