"""A self-signed certificate for a test's TLS server, made with the openssl program."""
from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from tests.needs import require_binary


def self_signed(folder: Path, host: str) -> tuple[Path, ssl.SSLContext]:
    """The certificate's path (a client may trust it through SSL_CERT_FILE) and a server
    context that presents it for `host`."""
    require_binary("openssl")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return cert, server
