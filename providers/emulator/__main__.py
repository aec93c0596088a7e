"""`python -m providers.emulator --port 9100`: serve the emulated provider APIs."""
from __future__ import annotations

import argparse

from . import Emulator


def main() -> None:
    parser = argparse.ArgumentParser(description="Emulated provider APIs with fault injection")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    emulator = Emulator(args.host, args.port)
    print("Emulator on", emulator.origin, "- point the backends at it with:")
    for name, value in emulator.env().items():
        print(f"  export {name}={value}")
    print("Faults: curl -X POST", emulator.origin + "/_faults",
          "-d '{\"backend\": \"groq\", \"kind\": \"status\", \"status\": 500}'")
    try:
        emulator.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.server.server_close()


if __name__ == "__main__":
    main()
