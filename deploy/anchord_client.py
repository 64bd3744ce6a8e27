#!/usr/bin/python3
"""A small anchord client: prints what the daemon publishes, or asks it.

Subscribe mode (default): connects a SUB socket to the daemon's results
endpoint, subscribes to the `registration` and `drift` topics and prints one
line per frame: frame id, sequence, status, latency, adatom sites, vacancies
and drift.

    anchord_client.py [--endpoint tcp://127.0.0.1:5556] [--count N]
                      [--timeout-s S]

Query mode: sends one QueryRequest to the daemon's ROUTER endpoint from a
DEALER socket and prints the QueryReply as protobuf text.

    anchord_client.py --query health|latest|config
    anchord_client.py --query sites --rect X0,Y0,X1,Y1
                      [--occupancy any|occupied|vacant]

The Python classes are generated at start from proto/anchord/v1/anchord.proto
with `protoc --python_out` into a temporary folder (Debian packages
protobuf-compiler, python3-protobuf, python3-zmq).

Exit status: 0 on success (subscribe: --count results printed, or
interrupted with Ctrl-C; query: a reply with ok = true); 1 on a timeout, a
reply with ok = false or a runtime error; 2 on a usage error or a missing
dependency.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

DEFAULT_RESULTS_ENDPOINT = "tcp://127.0.0.1:5556"
DEFAULT_QUERY_ENDPOINT = "tcp://127.0.0.1:5557"
PROTO_RELATIVE = os.path.join("anchord", "v1", "anchord.proto")

# Drift messages kept while waiting for their registration, at most this
# many; a registration waits at most DRIFT_GRACE_S for its drift.
MAX_PENDING = 64
DRIFT_GRACE_S = 0.5


class ClientError(Exception):
    """An error reported on stderr with the given exit status."""

    def __init__(self, message, status=EXIT_FAILURE):
        super().__init__(message)
        self.status = status


def proto_search_roots():
    """Folders that may hold anchord/v1/anchord.proto, in search order."""
    here = os.path.dirname(os.path.abspath(__file__))
    roots = [os.path.join(os.path.dirname(here), "proto")]  # source tree
    prefix = os.path.dirname(os.path.dirname(here))  # <prefix>/share/anchord/…
    for base in (prefix, "/usr/local", "/usr"):
        roots.append(os.path.join(base, "share", "anchord", "proto"))
    return roots


def find_proto(explicit):
    """(import root, path) of anchord.proto: --proto, else the search roots."""
    if explicit:
        path = os.path.abspath(explicit)
        if not os.path.isfile(path):
            raise ClientError(f"--proto {explicit}: no such file", EXIT_USAGE)
        suffix = os.sep + PROTO_RELATIVE
        if not path.endswith(suffix):
            raise ClientError(
                f"--proto {explicit}: expected a path ending in "
                f"{PROTO_RELATIVE}", EXIT_USAGE)
        return path[: -len(suffix)], path
    for root in proto_search_roots():
        path = os.path.join(root, PROTO_RELATIVE)
        if os.path.isfile(path):
            return root, path
    raise ClientError(
        "cannot find anchord/v1/anchord.proto (looked in "
        + ", ".join(proto_search_roots()) + "); pass --proto", EXIT_USAGE)


def load_anchord_pb2(explicit_proto):
    """Generates the Python classes from the .proto and imports them."""
    protoc = shutil.which("protoc")
    if protoc is None:
        raise ClientError(
            "protoc not found: install the Debian package protobuf-compiler",
            EXIT_USAGE)
    try:
        import google.protobuf  # noqa: F401  (checked before protoc runs)
    except ImportError:
        raise ClientError(
            f"{sys.executable}: no module google.protobuf: install the "
            "Debian package python3-protobuf (and run with /usr/bin/python3)",
            EXIT_USAGE)
    root, path = find_proto(explicit_proto)
    with tempfile.TemporaryDirectory(prefix="anchord-proto-") as out:
        run = subprocess.run(
            [protoc, f"--proto_path={root}", f"--python_out={out}", path],
            capture_output=True, text=True)
        if run.returncode != 0:
            raise ClientError(f"protoc failed on {path}: {run.stderr.strip()}")
        generated = os.path.join(out, "anchord", "v1", "anchord_pb2.py")
        spec = importlib.util.spec_from_file_location("anchord_pb2", generated)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # reads the file; the folder may go
    return module


def import_zmq():
    try:
        import zmq
    except ImportError:
        raise ClientError(
            f"{sys.executable}: no module zmq: install the Debian package "
            "python3-zmq (and run with /usr/bin/python3)", EXIT_USAGE)
    return zmq


# ---------------------------------------------------------------------------
# Subscribe mode
# ---------------------------------------------------------------------------

def status_name(pb2, status):
    """"ok", "no_lattice", ... for a ResultStatus value."""
    name = pb2.ResultStatus.Name(status) if status in \
        pb2.ResultStatus.values() else str(status)
    return name.removeprefix("RESULT_STATUS_").lower()


def format_drift(drift):
    if drift is None:
        return "drift -"
    if not drift.valid:
        return f"drift n/a ({drift.message})" if drift.message else "drift n/a"
    placed = ("placed" if drift.placed
              else f"not placed: {drift.placement_message}")
    return (f"drift ({60 * drift.velocity_x_nm_per_s:+.3f}, "
            f"{60 * drift.velocity_y_nm_per_s:+.3f}) "
            f"± ({60 * drift.velocity_x_sigma_nm_per_s:.3f}, "
            f"{60 * drift.velocity_y_sigma_nm_per_s:.3f}) nm/min, {placed}")


def format_frame(pb2, result, drift):
    """One console line for a frame's registration result and drift."""
    text = (f"frame {result.frame_id} seq {result.sequence} "
            f"{status_name(pb2, result.status)} "
            f"latency {result.latency_ms:.1f} ms")
    if result.status == pb2.RESULT_STATUS_OK:
        text += (f" adatoms {result.adatoms} vacancies {result.vacancies} "
                 + format_drift(drift))
    else:
        text += f": {result.message}"
    return text


class FrameJoiner:
    """Pairs registration and drift messages of one frame by sequence.

    A frame is printed once both arrived, or without its drift when a
    registration of a later frame arrives, when it waited DRIFT_GRACE_S, or
    when the client stops.
    """

    def __init__(self, pb2, emit):
        self._pb2 = pb2
        self._emit = emit
        self._results = {}  # sequence -> (RegistrationResult, arrival time)
        self._drifts = {}   # sequence -> DriftEstimate
        self.printed = 0

    def waiting(self):
        """True when a registration waits for its drift."""
        return bool(self._results)

    def add_result(self, result, now):
        seq = result.sequence
        for older in sorted(s for s in self._results if s < seq):
            self._print(older)
        self._results[seq] = (result, now)
        if seq in self._drifts:
            self._print(seq)

    def flush_stale(self, now):
        """Prints the registrations that waited DRIFT_GRACE_S or longer."""
        for seq in sorted(self._results):
            if now - self._results[seq][1] >= DRIFT_GRACE_S:
                self._print(seq)

    def add_drift(self, drift):
        self._drifts[drift.sequence] = drift
        if drift.sequence in self._results:
            self._print(drift.sequence)
        while len(self._drifts) > MAX_PENDING:
            del self._drifts[min(self._drifts)]

    def flush(self):
        for seq in sorted(self._results):
            self._print(seq)

    def _print(self, seq):
        result, _ = self._results.pop(seq)
        drift = self._drifts.pop(seq, None)
        self._emit(format_frame(self._pb2, result, drift))
        self.printed += 1


# ---------------------------------------------------------------------------
# CURVE (a daemon with [security] keys)
# ---------------------------------------------------------------------------

Z85_KEY_CHARS = 40


def read_curve_key(path, role):
    """The Z85 key of `role` ("public" or "secret") in `path`: a bare key,
    curve_keygen output or a ZPL certificate (as the daemon reads them)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = [line.strip() for line in f]
    except OSError as e:
        raise ClientError(f"cannot read {path}: {e.strerror}", EXIT_USAGE)
    header = f"== CURVE {role.upper()} KEY =="
    section = None
    for line in lines:
        if not line:
            continue
        if line.startswith("== CURVE "):
            section = line
            continue
        name, _, value = line.partition("=")
        if name.strip() == f"{role}-key" and value.strip().startswith('"'):
            return value.strip().strip('"').encode("ascii")
        if len(line) == Z85_KEY_CHARS and section in (None, header):
            return line.encode("ascii")
        section = None
    raise ClientError(f"{path}: no CURVE {role} key found", EXIT_USAGE)


def apply_curve(zmq, socket, args):
    """Makes `socket` a CURVE client when --curve-server-key is given."""
    if not args.curve_server_key:
        return
    secret = read_curve_key(args.curve_client_key, "secret")
    socket.curve_serverkey = read_curve_key(args.curve_server_key, "public")
    socket.curve_secretkey = secret
    socket.curve_publickey = zmq.curve_public(secret)


def subscribe(pb2, zmq, args):
    context = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    apply_curve(zmq, socket, args)
    socket.connect(args.endpoint)
    for topic in (b"registration", b"drift"):
        socket.setsockopt(zmq.SUBSCRIBE, topic)
    deadline = time.monotonic() + args.timeout_s if args.timeout_s else None
    joiner = FrameJoiner(pb2, lambda line: print(line, flush=True))
    try:
        while args.count == 0 or joiner.printed < args.count:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise ClientError(
                    f"timeout: {joiner.printed} of {args.count or 'any'} "
                    f"frames within {args.timeout_s:g} s from "
                    f"{args.endpoint}")
            waits = [deadline - now] if deadline is not None else []
            if joiner.waiting():
                waits.append(DRIFT_GRACE_S)
            wait_ms = int(min(waits) * 1000) + 1 if waits else None
            if socket.poll(wait_ms):
                handle_message(pb2, socket.recv_multipart(), joiner,
                               time.monotonic())
            joiner.flush_stale(time.monotonic())
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if args.count == 0 or joiner.printed < args.count:
            joiner.flush()
        socket.close()


def handle_message(pb2, parts, joiner, now):
    """Parses one [topic, payload] message; skips anything else."""
    if len(parts) != 2:
        print(f"warning: skipped a message of {len(parts)} parts",
              file=sys.stderr)
        return
    topic, payload = parts
    message = {b"registration": pb2.RegistrationResult,
               b"drift": pb2.DriftEstimate}.get(topic)
    if message is None:
        return
    parsed = message()
    try:
        parsed.ParseFromString(payload)
    except Exception as e:  # google.protobuf.message.DecodeError
        print(f"warning: bad {topic.decode(errors='replace')} payload: {e}",
              file=sys.stderr)
        return
    if topic == b"registration":
        joiner.add_result(parsed, now)
    else:
        joiner.add_drift(parsed)


# ---------------------------------------------------------------------------
# Query mode
# ---------------------------------------------------------------------------

OCCUPANCY = {"any": "OCCUPANCY_ANY", "occupied": "OCCUPANCY_OCCUPIED",
             "vacant": "OCCUPANCY_VACANT"}


def parse_rect(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise argparse.ArgumentTypeError(
            f"'{text}': expected X0,Y0,X1,Y1 (pixels)")
    return values


def build_request(pb2, args):
    request = pb2.QueryRequest()
    request.request_id = os.getpid()
    if args.query == "health":
        request.health.SetInParent()
    elif args.query == "latest":
        request.latest_result.SetInParent()
    elif args.query == "config":
        request.current_config.SetInParent()
    else:
        rect = request.sites_in_rect
        rect.x0_px, rect.y0_px, rect.x1_px, rect.y1_px = args.rect
        rect.occupancy = pb2.Occupancy.Value(OCCUPANCY[args.occupancy])
    return request


def query(pb2, zmq, args):
    from google.protobuf import text_format

    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    apply_curve(zmq, socket, args)
    socket.connect(args.endpoint)
    try:
        request = build_request(pb2, args)
        # The empty delimiter makes the envelope look like a REQ socket's,
        # which any ROUTER server accepts; the payload is the last part.
        socket.send_multipart([b"", request.SerializeToString()])
        timeout_s = args.timeout_s or 5.0
        if not socket.poll(int(timeout_s * 1000)):
            raise ClientError(
                f"timeout: no reply within {timeout_s:g} s from {args.endpoint}")
        parts = socket.recv_multipart()
        reply = pb2.QueryReply()
        try:
            reply.ParseFromString(parts[-1])
        except Exception as e:
            raise ClientError(f"bad reply from {args.endpoint}: {e}")
        if args.query == "config" and reply.ok:
            print(reply.config_toml, end="")
        else:
            print(text_format.MessageToString(reply), end="")
        return EXIT_OK if reply.ok else EXIT_FAILURE
    finally:
        socket.close()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="anchord_client.py",
        description="Print anchord's per-frame results (registration and "
                    "drift topics), or query the daemon.",
        epilog="Exit status: 0 success; 1 timeout, ok = false reply or "
               "runtime error; 2 usage error or missing dependency.")
    parser.add_argument(
        "--endpoint",
        help="subscribe: the results PUB endpoint (default "
             f"{DEFAULT_RESULTS_ENDPOINT}); --query: the ROUTER endpoint "
             f"(default {DEFAULT_QUERY_ENDPOINT})")
    parser.add_argument(
        "--count", type=int, default=0, metavar="N",
        help="subscribe: exit 0 after N frames (default 0: run until Ctrl-C)")
    parser.add_argument(
        "--timeout-s", type=float, default=0.0, metavar="S",
        help="give up with exit status 1 after S seconds in all (default: "
             "subscribe never, --query 5)")
    parser.add_argument(
        "--query", choices=("health", "latest", "config", "sites"),
        help="send one query instead of subscribing")
    parser.add_argument(
        "--rect", type=parse_rect, metavar="X0,Y0,X1,Y1",
        help="--query sites: the rectangle in raw-image pixels")
    parser.add_argument(
        "--occupancy", choices=tuple(OCCUPANCY), default="any",
        help="--query sites: which sites (default any)")
    parser.add_argument(
        "--curve-server-key", metavar="FILE",
        help="CURVE: the daemon's public key file (a daemon with [security] "
             "keys); needs --curve-client-key")
    parser.add_argument(
        "--curve-client-key", metavar="FILE",
        help="CURVE: this client's secret key file (its public key must be "
             "on the daemon's allow-list)")
    parser.add_argument(
        "--proto", metavar="PATH",
        help="the schema, .../anchord/v1/anchord.proto (default: the source "
             "tree's proto/ or <prefix>/share/anchord/proto/)")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must be >= 0")
    if args.timeout_s < 0:
        parser.error("--timeout-s must be >= 0")
    if args.query == "sites" and args.rect is None:
        parser.error("--query sites needs --rect X0,Y0,X1,Y1")
    if args.query != "sites" and args.rect is not None:
        parser.error("--rect applies to --query sites only")
    if bool(args.curve_server_key) != bool(args.curve_client_key):
        parser.error("--curve-server-key and --curve-client-key go together")
    if args.endpoint is None:
        args.endpoint = (DEFAULT_QUERY_ENDPOINT if args.query
                         else DEFAULT_RESULTS_ENDPOINT)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        pb2 = load_anchord_pb2(args.proto)
        zmq = import_zmq()
        return query(pb2, zmq, args) if args.query else subscribe(pb2, zmq,
                                                                  args)
    except ClientError as e:
        print(f"anchord_client: {e}", file=sys.stderr)
        return e.status


if __name__ == "__main__":
    sys.exit(main())
