"""Signing a certification record directory and verifying it (Ed25519, `cryptography`).

A record directory holds ``record.json``, its attachments, and:

- ``manifest.json``: the sha256 of ``record.json`` and of every attachment, by path;
- ``manifest.sig``: an Ed25519 signature over the manifest's exact bytes, with the signer's public
  key and its fingerprint (``SHA256:...``).

Verification re-hashes every file and checks the signature: a changed byte anywhere, a missing or
added file, or a signature by another key than the one given fails, naming what is wrong.
Without ``--pubkey`` the key stored beside the signature is used: that still detects any change
made after signing, but not a record re-signed by someone else; give the certifier's public key
to rule that out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bench.errors import BenchError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
RECORD = "record.json"
ALGORITHM = "Ed25519"
KEY_ENV = "SKYBENCH_SIGNING_KEY"  # names the private key FILE (never the key itself)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- keys ----------------------------------------------------------------------------------------

def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


def generate_keypair(private_path: Path, public_path: Path | None = None) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair (private key readable by its owner only); refuses to overwrite."""
    public_path = public_path or private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise BenchError("key file exists already", where=str(path), fix="choose another name, or move the old key away first")
    private = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public_path.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path, key_id(private.public_key())


def signing_key_path(given: Path | None) -> Path:
    """--key FILE, else the file named by $SKYBENCH_SIGNING_KEY; one of them is required."""
    if given is not None:
        return given
    named = os.environ.get(KEY_ENV)
    if named:
        return Path(named)
    raise BenchError("no signing key given", where="skybench certify",
                     fix=f"pass --key FILE, or set {KEY_ENV} to the key file's path; `skybench certify keygen FILE` makes a key pair")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise BenchError("signing key not found", where=str(path), fix="check the path; `skybench certify keygen FILE` makes a key pair") from None
    except (ValueError, TypeError) as exc:
        raise BenchError(f"not an unencrypted PEM private key ({exc})", where=str(path),
                         fix="give the private key `skybench certify keygen` wrote") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BenchError(f"the key is {type(key).__name__}, not Ed25519", where=str(path), fix="make an Ed25519 key with `skybench certify keygen`")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise BenchError("public key not found", where=str(path), fix="give the .pub file `skybench certify keygen` wrote") from None
    except (ValueError, TypeError) as exc:
        raise BenchError(f"not a PEM public key ({exc})", where=str(path), fix="give the .pub file `skybench certify keygen` wrote") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BenchError(f"the key is {type(key).__name__}, not Ed25519", where=str(path), fix="give the certifier's Ed25519 public key")
    return key


# --- manifest and signature -------------------------------------------------------------------------

def files_of(record_dir: Path) -> list[str]:
    """Every file of the record directory except the manifest and its signature, as relative paths."""
    names = (p.relative_to(record_dir).as_posix() for p in record_dir.rglob("*") if p.is_file())
    return sorted(name for name in names if name not in (MANIFEST, SIGNATURE))


def write_manifest(record_dir: Path) -> bytes:
    files = {name: sha256_of(record_dir / name) for name in files_of(record_dir)}
    if RECORD not in files:
        raise BenchError("no record.json to sign", where=str(record_dir), fix="sign the directory `skybench certify` wrote")
    data = (json.dumps({"manifest_version": 1, "hash": "sha256", "files": files}, indent=2, sort_keys=True) + "\n").encode()
    (record_dir / MANIFEST).write_bytes(data)
    return data


def sign_record_dir(record_dir: Path, private: Ed25519PrivateKey) -> dict[str, str]:
    """Write manifest.json and manifest.sig for everything in `record_dir`; returns the signature file's fields."""
    manifest = write_manifest(record_dir)
    public = private.public_key()
    signature = {
        "algorithm": ALGORITHM,
        "key_id": key_id(public),
        "public_key": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "signed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "manifest_sha256": sha256_bytes(manifest),
        "signature": base64.b64encode(private.sign(manifest)).decode("ascii"),
    }
    (record_dir / SIGNATURE).write_text(json.dumps(signature, indent=2) + "\n")
    return signature


@dataclass
class Verification:
    record_dir: Path
    problems: list[str] = field(default_factory=list)
    key_id: str | None = None
    signed_at: str | None = None
    manifest_sha256: str | None = None
    checked_files: int = 0
    key_pinned: bool = False

    @property
    def valid(self) -> bool:
        return not self.problems


def verify_record_dir(record_dir: Path, public: Ed25519PublicKey | None = None) -> Verification:
    """Check the signature over the manifest, then every file against it (see the module docstring)."""
    result = Verification(record_dir)
    manifest_path, signature_path = record_dir / MANIFEST, record_dir / SIGNATURE
    if not record_dir.is_dir():
        raise BenchError("no such record directory", where=str(record_dir), fix="give the directory `skybench certify` wrote")
    if not manifest_path.is_file() or not signature_path.is_file():
        result.problems.append(f"unsigned: {MANIFEST} or {SIGNATURE} is missing")
        return result
    manifest_bytes = manifest_path.read_bytes()
    result.manifest_sha256 = sha256_bytes(manifest_bytes)
    try:
        sig = json.loads(signature_path.read_text())
        stored_key = serialization.load_pem_public_key(sig["public_key"].encode())
        signature = base64.b64decode(sig["signature"], validate=True)
        result.signed_at = sig.get("signed_at")
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"{SIGNATURE} is damaged ({type(exc).__name__}: {exc})")
        return result
    if not isinstance(stored_key, Ed25519PublicKey):
        result.problems.append(f"{SIGNATURE}: the stored key is not Ed25519")
        return result
    result.key_id = key_id(stored_key)
    key = public or stored_key
    result.key_pinned = public is not None
    if public is not None and key_id(public) != result.key_id:
        result.problems.append(f"signed with key {result.key_id}, not with the given public key {key_id(public)}")
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature:
        result.problems.append(f"the signature does not match {MANIFEST} and key {key_id(key)}: the manifest changed or another key signed it")
    try:
        listed: dict[str, str] = json.loads(manifest_bytes)["files"]
    except (ValueError, KeyError, TypeError):
        result.problems.append(f"{MANIFEST} is not a skybench manifest")
        return result
    for name, expected in sorted(listed.items()):
        path = record_dir / name
        if not path.is_file():
            result.problems.append(f"{name}: missing (listed in the manifest)")
            continue
        actual = sha256_of(path)
        result.checked_files += 1
        if actual != expected:
            result.problems.append(f"{name}: changed after signing (sha256 {actual}, signed {expected})")
    for name in files_of(record_dir):
        if name not in listed:
            result.problems.append(f"{name}: added after signing (not in the manifest)")
    return result
