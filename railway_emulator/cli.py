"""`railway-emulator serve`: run the emulator until interrupted, printing its URL and token."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from railway_emulator.faults import PLANS, Faults
from railway_emulator.server import DEFAULT_TOKEN, EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="railway-emulator", description="Local emulator of Railway's GraphQL API")
    sub = ap.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--state", help="SQLite file that keeps the state across restarts (default: in memory)")
    serve.add_argument("--token", action="append", help=f"account token to accept (default {DEFAULT_TOKEN})")
    serve.add_argument("--plan", choices=sorted(PLANS), default="unlimited", help="rate limits to enforce")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    serve.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    serve.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped")
    serve.add_argument("--deploy-seconds", type=float, default=0.3, help="BUILDING -> SUCCESS duration")
    serve.add_argument("--url-file", help="also write the URL to this file once listening")
    serve.add_argument("--workspace-id", type=_workspace_id, default=None,
                       help="id of the user's workspace (default: a fixed one), e.g. to replay a recorded world")
    return ap.parse_args(argv)


def _workspace_id(value: str) -> str:
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(f"workspace id must be a non-empty id without spaces, got {value!r}")
    return value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    faults = Faults(latency_ms=args.latency_ms, error_rate=args.error_rate, drop_rate=args.drop_rate)
    server = EmulatorServer(args.host, args.port, state_path=args.state, tokens=args.token, plan=args.plan,
                            faults=faults, deploy_seconds=args.deploy_seconds, workspace_id=args.workspace_id)
    print(f"Railway emulator listening on {server.url}", flush=True)
    print(f"token: {next(iter(server.account_tokens))}  (Authorization: Bearer <token>)", flush=True)
    print(f"admin: {server.base_url}/_emulator/stats", flush=True)
    if args.url_file:
        Path(args.url_file).write_text(server.url)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
