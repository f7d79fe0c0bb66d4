"""Verify a shakedown attestation with securesystemslib, independently of shakedown.

Usage: verify.py RUN_DIR PUBKEY.pem [SUBJECT_SHA256]

Checks the DSSE envelope's Ed25519 signature over PAE(payloadType, payload) with the public key
(securesystemslib.dsse.Envelope.verify), then the in-toto Statement v1 inside it: its type, the
test-result predicate type, a subject with the given SHA-256, and that the predicate's manifest
digest is the SHA-256 of RUN_DIR/manifest.json. Prints what it verified and exits 0, or prints
"REJECTED: <reason>" and exits 1.
"""

import hashlib
import json
import sys
from pathlib import Path

import securesystemslib
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def verify(run_dir: Path, pubkey: Path, subject_sha256: str | None) -> list[str]:
    public = load_pem_public_key(pubkey.read_bytes())
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # shakedown's keyid: SHA-256 of the key's SubjectPublicKeyInfo, computed here on its own.
    keyid = hashlib.sha256(spki).hexdigest()
    key = SSlibKey.from_crypto(public, keyid=keyid)
    envelope = Envelope.from_dict(json.loads((run_dir / "attestation.json").read_text()))
    envelope.verify([key], 1)
    if envelope.payload_type != "application/vnd.in-toto+json":
        raise ValueError(f"payloadType is {envelope.payload_type!r}")
    statement = json.loads(envelope.payload)
    if statement["_type"] != "https://in-toto.io/Statement/v1":
        raise ValueError(f"_type is {statement['_type']!r}")
    if statement["predicateType"] != "https://in-toto.io/attestation/test-result/v0.1":
        raise ValueError(f"predicateType is {statement['predicateType']!r}")
    subjects = [f"{s['name']}@sha256:{s['digest']['sha256']}" for s in statement["subject"]]
    if subject_sha256 and not any(
        s["digest"].get("sha256") == subject_sha256 for s in statement["subject"]
    ):
        raise ValueError(f"no subject has sha256:{subject_sha256} (subjects: {subjects})")
    predicate = statement["predicate"]
    manifest = hashlib.sha256((run_dir / "manifest.json").read_bytes()).hexdigest()
    signed = predicate["shakedown"]["manifest"]["digest"]["sha256"]
    if signed != manifest:
        raise ValueError(f"signed manifest digest {signed} != manifest.json {manifest}")
    checks = ", ".join(f"{c['id']}={c['status']}" for c in predicate["shakedown"]["checks"])
    return [
        f"securesystemslib {securesystemslib.__version__}: DSSE signature valid (keyid {keyid})",
        f"statement: {statement['_type']}, predicate {statement['predicateType']}",
        f"subject: {', '.join(subjects)}",
        f"result: {predicate['result']}; verdict: {predicate['shakedown']['verdict']}; checks: {checks}",
        f"manifest.json sha256: {manifest} (matches the signed digest)",
    ]


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        lines = verify(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else None)
    except Exception as err:  # every failure is a rejection, with its reason
        print(f"REJECTED: {type(err).__name__}: {err}")
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
