#!/usr/bin/env python3
"""A minimal OIDC issuer on loopback for the agent benchmark (not a test fixture, not for use):
OIDC discovery and a JWKS with one ES256 key, generated at start. Writes a token valid for an
hour (audience "dte-bench", one entitlement) to TOKEN_FILE, prints the issuer URL, and serves
until killed.

usage: bench/agent/issuer.py PORT TOKEN_FILE
"""
import base64, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

port, token_file = int(sys.argv[1]), sys.argv[2]
url = f"http://127.0.0.1:{port}"
key = ec.generate_private_key(ec.SECP256R1())
numbers = key.public_key().public_numbers()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "bench", "use": "sig", "alg": "ES256",
                  "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}]}
now = int(time.time())
header = b64(json.dumps({"alg": "ES256", "kid": "bench", "typ": "JWT"}).encode())
claims = b64(json.dumps({"iss": url, "sub": "bench", "aud": "dte-bench", "iat": now, "nbf": now, "exp": now + 3600,
                         "eduperson_entitlement": ["urn:mace:egi.eu:group:dte-bench#bench"]}).encode())
r, s = decode_dss_signature(key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())))
with open(token_file, "w") as f:
    f.write(f"{header}.{claims}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")

documents = {"/.well-known/openid-configuration": {"issuer": url, "jwks_uri": url + "/jwks"}, "/jwks": jwks}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(documents.get(self.path, {})).encode()
        self.send_response(200 if self.path in documents else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(url, flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
