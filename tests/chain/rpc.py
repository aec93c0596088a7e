"""A JSON-RPC endpoint over an in-process eth-tester chain (py-evm), served from a thread.

The API code reaches a chain only through X402_RPC_URL, so tests give it a real HTTP JSON-RPC
URL: this server passes each call to web3's EthereumTesterProvider (through its request
middleware) and writes the result the way a node does (quantities as hex). One lock serialises
the chain: py-evm is not thread-safe.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

# Base Sepolia's id: the x402 client maps its v1 network name "base-sepolia" to it when signing.
CHAIN_ID = 84532


def to_rpc(value):
    """Python values from eth-tester as JSON-RPC writes them: ints and bytes as 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {key: to_rpc(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_rpc(item) for item in value]
    return value


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many API threads may call at once (the default backlog is 5)
    daemon_threads = True


class TesterChain:
    """An eth-tester chain with id CHAIN_ID and a JSON-RPC server in front of it."""

    def __init__(self):
        backend = PyEVMBackend()
        # eth-tester hard-codes its chain id; py-evm reads it from the chain for every new VM.
        backend.chain.chain_id = CHAIN_ID
        self.tester = EthereumTester(backend)
        self.lock = threading.RLock()
        self._w3 = Web3(EthereumTesterProvider(self.tester))
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "TesterChain":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def call(self, request: dict) -> dict:
        """Answer one JSON-RPC request object."""
        method, params = request.get("method"), request.get("params") or []
        reply = {"jsonrpc": "2.0", "id": request.get("id")}
        if method == "eth_chainId":
            return {**reply, "result": hex(CHAIN_ID)}
        with self.lock:
            try:
                response = self._w3.manager._make_request(method, params)
            except Exception as exc:  # a revert or a bad call: the node's error object
                return {**reply, "error": {"code": -32000, "message": str(exc)}}
        if "error" in response:
            return {**reply, "error": to_rpc(response["error"])}
        return {**reply, "result": to_rpc(response.get("result"))}

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self.tester.mine_blocks(blocks)

    def time_travel(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block there."""
        with self.lock:
            latest = self.tester.get_block_by_number("latest")["timestamp"]
            self.tester.time_travel(latest + seconds)
            self.tester.mine_blocks(1)

    def _handler(self):
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if isinstance(body, list):
                    answer = [chain.call(item) for item in body]
                else:
                    answer = chain.call(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
