"""``nginx -t`` accepts the site (infra/nginx/trainyard.conf) as it is, inside a minimal nginx.conf, with a
throwaway certificate in place of the one the site names."""
import datetime
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "infra" / "nginx" / "trainyard.conf"


def _nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trainyard.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, private


def test_nginx_accepts_the_site(tmp_path):
    nginx = _nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    chain, private = _certificate(tmp_path)
    site = SITE.read_text()
    assert "/etc/ssl/trainyard/fullchain.pem" in site and "/etc/ssl/trainyard/privkey.pem" in site
    (tmp_path / "site.conf").write_text(site.replace("/etc/ssl/trainyard/fullchain.pem", str(chain))
                                        .replace("/etc/ssl/trainyard/privkey.pem", str(private)))
    temp = "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n"  # nginx checks its temp folders too
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}  include {tmp_path}/site.conf;\n}}\n")
    done = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "[emerg]" not in done.stderr and "[warn]" not in done.stderr, done.stderr
