"""`gpubridge`: the command line on the SDK.

    gpubridge run embedding-l4 --text hello        # any --<field> VALUE becomes input.<field>
    gpubridge status JOB_ID [--follow]
    gpubridge balance | estimate SERVICE | services

The server and key come from --base-url / --api-key or GPUBRIDGE_BASE_URL / GPUBRIDGE_API_KEY.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal

from .client import FINAL, Client
from .errors import GpuBridgeError, JobFailed

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
BAR_WIDTH = 30


def _dump(value) -> str:
    return json.dumps(value, indent=2, default=lambda v: str(v) if isinstance(v, Decimal) else v)


def _coerce(raw: str, kind: str | None):
    """A command-line string as the type the catalog gives the field."""
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return raw.lower() in ("1", "true", "yes", "on")
    if kind is None and raw[:1] in "[{":
        return json.loads(raw)
    return raw


def parse_fields(extra: list[str], rules: dict) -> dict:
    """`--max-tokens 5 --text a --text b` -> {"max_tokens": 5, "text": ["a", "b"]}."""
    values: dict[str, list] = {}
    name = None
    for token in extra:
        if token.startswith("--"):
            name = token[2:].replace("-", "_")
            values.setdefault(name, [])
        elif name is None:
            raise SystemExit(f"gpubridge: unexpected argument {token!r}")
        else:
            values[name].append(_coerce(token, rules.get(name, {}).get("type")))
    found = {}
    for key, given in values.items():
        if not given:
            raise SystemExit(f"gpubridge: --{key} needs a value")
        many = len(given) > 1 or rules.get(key, {}).get("type") == "string_list"
        found[key] = given if many else given[0]
    return found


def _progress(job: dict, stream=None) -> None:
    stream = stream or sys.stderr
    progress = job.get("progress") or {}
    percent = int(progress.get("percent_estimate", 0))
    filled = BAR_WIDTH * percent // 100
    stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}% "
                 f"{job['status']:<10} {progress.get('elapsed_seconds', 0):.1f}s")
    if job["status"] in FINAL:
        stream.write("\n")
    stream.flush()


def _input_rules(client: Client, service: str) -> dict:
    for entry in client.catalog()["services"]:
        if entry["key"] == service:
            return entry["input_schema"]
    return {}


def cmd_run(client: Client, args, extra: list[str]) -> int:
    data = json.loads(args.input) if args.input else {}
    data.update(parse_fields(extra, _input_rules(client, args.service)))
    if args.no_wait:
        print(_dump(client.submit(args.service, data)))
        return 0
    job = client.run(args.service, data, timeout=args.timeout,
                     on_progress=None if args.quiet else _progress)
    print(_dump(job if args.full else job["output"]))
    return 0


def cmd_status(client: Client, args, extra) -> int:
    if not args.follow:
        print(_dump(client.status(args.job_id)))
        return 0
    job = client.wait(args.job_id, timeout=args.timeout, on_progress=_progress)
    print(_dump(job))
    return 0 if job["status"] == "completed" else 1


def cmd_balance(client: Client, args, extra) -> int:
    body = client.balance()
    if args.json:
        print(_dump(body))
    else:
        for name in ("balance", "held", "daily_spend", "daily_limit"):
            if name in body:
                print(f"{name:<12} ${body[name]}")
    return 0


def cmd_estimate(client: Client, args, extra) -> int:
    print(_dump(client.estimate(args.service, args.seconds)))
    return 0


def cmd_services(client: Client, args, extra) -> int:
    for entry in client.catalog()["services"]:
        mark = " " if entry.get("available") else "x"
        print(f"{mark} {entry['key']:<16} ${entry['default_cost_usd']:<8} {entry['name']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpubridge", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("GPUBRIDGE_BASE_URL",
                                                             DEFAULT_BASE_URL))
    parser.add_argument("--api-key", default=os.environ.get("GPUBRIDGE_API_KEY"))
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job; --<field> VALUE sets input fields")
    run.add_argument("service")
    run.add_argument("--input", help="the whole input as JSON")
    run.add_argument("--no-wait", action="store_true", help="print the job id and return")
    run.add_argument("--full", action="store_true", help="print the whole job, not the output")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.add_argument("--timeout", type=float, default=300.0)
    run.set_defaults(handler=cmd_run)
    status = sub.add_parser("status", help="a job's status")
    status.add_argument("job_id")
    status.add_argument("--follow", action="store_true", help="show progress until it ends")
    status.add_argument("--timeout", type=float, default=300.0)
    status.set_defaults(handler=cmd_status)
    balance = sub.add_parser("balance", help="the account's balance and daily spend")
    balance.add_argument("--json", action="store_true")
    balance.set_defaults(handler=cmd_balance)
    estimate = sub.add_parser("estimate", help="a service's estimated cost")
    estimate.add_argument("service")
    estimate.add_argument("--seconds", type=float)
    estimate.set_defaults(handler=cmd_estimate)
    sub.add_parser("services", help="list the catalog").set_defaults(handler=cmd_services)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gpubridge` command; returns the exit status."""
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "run":
        raise SystemExit(f"gpubridge: unrecognised arguments: {' '.join(extra)}")
    client = Client(args.base_url, args.api_key)
    try:
        return args.handler(client, args, extra)
    except JobFailed as exc:
        print(_dump(exc.job), file=sys.stdout)
        print(f"gpubridge: job failed: {exc.message}", file=sys.stderr)
        return 1
    except GpuBridgeError as exc:
        print(f"gpubridge: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
