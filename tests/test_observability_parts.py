"""Small parts of the observability code: request ids, admin credentials, the metrics directory, redaction."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from infobip_inbound.contract.settings import load_settings
from infobip_inbound.receiver.admin_auth import AdminAuth
from infobip_inbound.receiver.observe import request_id_of
from infobip_inbound.runtime.logs import REDACTED, configure_logging, request_id_var
from tests.support import ROOT


def test_request_id_is_the_callers_when_plain_else_new() -> None:
    assert request_id_of([(b"x-request-id", b"abc-123:x.y_z")]) == "abc-123:x.y_z"
    for unsafe in (b"a b", b"a\nfake log line", b"x" * 129, b""):
        generated = request_id_of([(b"x-request-id", unsafe)])
        assert generated != unsafe.decode() and generated.startswith(request_id_of([]).split("-")[0])
    assert request_id_of([]) != request_id_of([])


def test_admin_auth_accepts_bearer_or_basic_password() -> None:
    auth = AdminAuth([SecretStr("first-admin-token"), SecretStr("second-admin-token")])
    assert auth.enabled
    assert auth.allows("Bearer second-admin-token")
    assert auth.allows("Basic " + base64.b64encode(b"anyone:first-admin-token").decode())
    assert not auth.allows("Bearer first-admin-tokenx")
    assert not auth.allows("Basic " + base64.b64encode(b"first-admin-token:").decode())
    assert not auth.allows("Basic !!!")
    assert not auth.allows(None)
    assert not AdminAuth([]).enabled
    assert not AdminAuth([]).allows("Bearer ")


def test_the_cli_loads_no_metrics_before_choosing_the_multiprocess_directory() -> None:
    code = "import sys, infobip_inbound.shell.cli; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_metrics_directory_is_emptied_and_orphans_removed(tmp_path: Path) -> None:
    configured = tmp_path / "samples"
    configured.mkdir()
    (configured / "counter_1.db").write_bytes(b"stale")
    orphan = Path(os.environ.get("TMPDIR", "/tmp")) / "infobip-inbound-metrics-999999999"
    orphan.mkdir(exist_ok=True)
    code = (
        "import os, sys; from infobip_inbound.runtime import metrics_dir; "
        "print(metrics_dir.prepare()); print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(configured)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [str(configured)] * 2, out.stderr
    assert list(configured.iterdir()) == []
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not orphan.exists()
    assert not Path(out.stdout.split()[0]).exists()  # removed when its process exited


def test_every_configured_secret_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(
        redis_url="redis://user:redis-pass-123@localhost:6379/0",
        forward_tokens=["forward-token-123"],
        forward_basic_auth=["infobip:basic-pass-1234567"],
        admin_tokens=["admin-token-1234567"],
        infobip_api_key="api-key-123",
        poll_accounts=[{"name": "other", "api_key": "other-key-123"}],
        log_format="json",
    )
    configure_logging(settings)
    token = request_id_var.set("req-1")
    try:
        logging.getLogger("test").warning(
            "leaks %s %s",
            "forward-token-123 basic-pass-1234567",
            "admin-token-1234567",
            extra={"k": "api-key-123 other-key-123"},
        )
        logging.getLogger("test").warning("url redis://user:redis-pass-123@localhost")
    finally:
        request_id_var.reset(token)
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    for secret in ("forward-token-123", "basic-pass-1234567", "admin-token-1234567", "api-key-123", "other-key-123"):
        assert secret not in err
    assert "redis-pass-123" not in err
    assert err.count(REDACTED) >= 6
    assert '"request_id": "req-1"' in err
