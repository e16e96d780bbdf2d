"""Assertions on the rendered chart: what a platform team relies on, not only that it renders.

Run by helm/check.sh, which renders every values set into RENDERED_DIR and exports HELM and CHART.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

RENDERED = Path(os.environ.get("RENDERED_DIR", ".tools/deploy-check/rendered"))
HELM = os.environ.get("HELM", "helm")
CHART = Path(os.environ.get("CHART", Path(__file__).parents[1] / "infobip-inbound"))
ROOT = CHART.parents[1]
SETS = sorted(p.stem for p in RENDERED.glob("*.yaml"))


def objects(name: str) -> list[dict[str, Any]]:
    with open(RENDERED / f"{name}.yaml", encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def of_kind(name: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects(name) if o["kind"] == kind]


def deployment(name: str, role: str) -> dict[str, Any]:
    found = [d for d in of_kind(name, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == role]
    assert len(found) == 1, f"{name}: {len(found)} {role} Deployments"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def config_toml(name: str) -> dict[str, Any]:
    (configmap,) = [c for c in of_kind(name, "ConfigMap") if "config.toml" in c["data"]]
    return tomllib.loads(configmap["data"]["config.toml"])


def values_of(name: str) -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if name != "default":
        values = merge(values, yaml.safe_load((CHART / "examples" / f"{name}.yaml").read_text()))
    return values


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120, check=False)


def test_every_values_set_was_rendered() -> None:
    assert {"default", "minimal", "production", "keda", "sentinel"} <= set(SETS)


@pytest.mark.parametrize("name", SETS)
def test_pods_are_locked_down(name: str) -> None:
    for d in of_kind(name, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            # The read-only root needs exactly these writable mounts.
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/tmp", "/var/lib/infobip-inbound"} <= mounts  # noqa: S108


@pytest.mark.parametrize("name", SETS)
def test_every_container_has_probes_and_resource_requests(name: str) -> None:
    deployments = of_kind(name, "Deployment")
    assert deployments
    for d in deployments:
        (c,) = d["spec"]["template"]["spec"]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe in c, f"{d['metadata']['name']}: no {probe}"
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        assert c["resources"]["limits"]["memory"]


@pytest.mark.parametrize("name", SETS)
def test_worker_grace_period_outlasts_the_job_timeout(name: str) -> None:
    pod = deployment(name, "worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > config_toml(name)["job_timeout_seconds"]


@pytest.mark.parametrize("name", SETS)
def test_config_file_is_accepted_by_the_application(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from infobip_inbound.contract.settings import load_settings
    finally:
        sys.path.remove(str(ROOT))
    (configmap,) = [c for c in of_kind(name, "ConfigMap") if "config.toml" in c["data"]]
    path = tmp_path / "config.toml"
    path.write_text(configmap["data"]["config.toml"])
    for key in [k for k in os.environ if k.startswith("INBOUND_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("INBOUND_CONFIG_FILE", str(path))
    settings = load_settings()
    values = values_of(name)
    assert settings.default_queue == values["config"]["defaultQueue"]
    assert [r.name for r in settings.routes] == [r["name"] for r in values["config"]["routes"]]


@pytest.mark.parametrize("name", SETS)
def test_secrets_never_reach_a_configmap(name: str) -> None:
    values = values_of(name)
    secrets = [
        *values["secrets"]["forwardTokens"],
        *values["secrets"]["forwardBasicAuth"],
        values["secrets"]["infobipApiKey"],
        values["redis"]["auth"]["password"],
        values["redis"]["sentinel"]["auth"]["password"],
        *(a.get("apiKey", "") for a in values["secrets"]["pollAccounts"]),
    ]
    dumped = yaml.safe_dump(of_kind(name, "ConfigMap"))
    for secret in filter(None, secrets):
        assert secret not in dumped
    for d in of_kind(name, "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        env = env_of(c)
        for var in (
            "INBOUND_FORWARD_TOKENS",
            "INBOUND_FORWARD_BASIC_AUTH",
            "INBOUND_INFOBIP_API_KEY",
            "INBOUND_POLL_ACCOUNTS",
            "INBOUND_REDIS_SENTINEL_PASSWORD",
            "REDIS_PASSWORD",
        ):
            if var in env:
                assert "secretKeyRef" in env[var]["valueFrom"], var
        for secret in filter(None, secrets):
            assert secret not in yaml.safe_dump(d)


def test_receiver_alone_holds_the_forward_credentials_and_the_workers_the_api_key() -> None:
    receiver = env_of(deployment("production", "receiver")["spec"]["template"]["spec"]["containers"][0])
    worker = env_of(deployment("production", "worker")["spec"]["template"]["spec"]["containers"][0])
    assert "INBOUND_FORWARD_TOKENS" in receiver and "INBOUND_INFOBIP_API_KEY" not in receiver
    assert "INBOUND_FORWARD_TOKENS" not in worker and "INBOUND_INFOBIP_API_KEY" in worker


@pytest.mark.parametrize("name", SETS)
def test_pods_roll_when_configuration_changes(name: str) -> None:
    for d in of_kind(name, "Deployment"):
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert len(annotations["checksum/config"]) == 64
        if not values_of(name)["secrets"]["existingSecret"]:
            assert len(annotations["checksum/secret"]) == 64


@pytest.mark.parametrize("name", ["production", "sentinel"])
def test_poller_lease_settings_and_safe_rollout(name: str) -> None:
    d = deployment(name, "poller")
    poller = values_of(name)["poller"]
    env = env_of(d["spec"]["template"]["spec"]["containers"][0])
    assert env["INBOUND_POLL_LEASE_SECONDS"]["value"] == str(poller["leaseSeconds"])
    assert env["INBOUND_POLL_TIMEOUT_SECONDS"]["value"] == str(poller["timeoutSeconds"])
    timeout = float(env["INBOUND_POLL_TIMEOUT_SECONDS"]["value"])
    # The poller pulls only while its lease outlasts the longest pull.
    assert float(env["INBOUND_POLL_LEASE_SECONDS"]["value"]) > timeout + min(5.0, timeout) + 1.0
    assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "INBOUND_INFOBIP_API_KEY" in env
    assert env["INBOUND_POLL_ACCOUNTS"]["valueFrom"]["secretKeyRef"]["key"] == "poll-accounts"


@pytest.mark.parametrize("name", ["production", "sentinel"])
def test_poller_spill_dir_is_a_writable_emptydir(name: str) -> None:
    pod = deployment(name, "poller")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    spill_dir = env_of(c)["INBOUND_POLL_SPILL_DIR"]["value"]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == spill_dir]
    assert not mount.get("readOnly")
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume


@pytest.mark.parametrize(("name", "role"), [("default", "worker"), ("production", "worker"), ("production", "poller")])
def test_workers_and_poller_probe_their_health_port_by_default(name: str, role: str) -> None:
    c = deployment(name, role)["spec"]["template"]["spec"]["containers"][0]
    port = values_of(name)["workers" if role == "worker" else "poller"]["health"]["port"]
    assert port and env_of(c)["INBOUND_HEALTH_PORT"]["value"] == str(port)
    assert {"name": "health", "containerPort": port, "protocol": "TCP"} in c["ports"]
    assert c["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "health"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "health"}


def test_health_port_0_falls_back_to_exec_probes() -> None:
    c = deployment("sentinel", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert "INBOUND_HEALTH_PORT" not in env_of(c)
    assert c["livenessProbe"]["exec"]["command"][-1] == "worker-live"
    assert c["readinessProbe"]["exec"]["command"][-1] == "ready"


def _settings_class() -> Any:
    sys.path.insert(0, str(ROOT))
    try:
        from infobip_inbound.contract.settings import Settings, load_settings
    finally:
        sys.path.remove(str(ROOT))
    return Settings, load_settings


@pytest.mark.parametrize("name", SETS)
def test_every_inbound_variable_is_a_setting_the_application_accepts(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_class, load_settings = _settings_class()
    (configmap,) = [c for c in of_kind(name, "ConfigMap") if "config.toml" in c["data"]]
    path = tmp_path / "config.toml"
    path.write_text(configmap["data"]["config.toml"])
    for d in of_kind(name, "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        for key in [k for k in os.environ if k.startswith("INBOUND_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("INBOUND_CONFIG_FILE", str(path))
        for var, entry in env_of(c).items():
            if not var.startswith("INBOUND_") or var == "INBOUND_CONFIG_FILE":
                continue
            field = var.removeprefix("INBOUND_").lower()
            assert field in settings_class.model_fields, f"{d['metadata']['name']}: {var} is no setting"
            value = entry.get("value")
            if value is not None and "$(" not in value:  # secrets and $(VAR) references are not known here
                monkeypatch.setenv(var, value)
        load_settings()  # values of the right type, and the combination valid


def test_poll_accounts_secret_is_what_the_poller_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    _, load_settings = _settings_class()
    (secret,) = of_kind("sentinel", "Secret")
    for key in [k for k in os.environ if k.startswith("INBOUND_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("INBOUND_POLL_ACCOUNTS", secret["stringData"]["poll-accounts"])
    accounts = load_settings().poll_accounts
    expected = values_of("sentinel")["secrets"]["pollAccounts"]
    assert [a.name for a in accounts] == [a["name"] for a in expected]
    assert [a.base_url for a in accounts] == [a.get("baseUrl") for a in expected]
    assert [a.api_key.get_secret_value() if a.api_key else None for a in accounts] == [
        a.get("apiKey") for a in expected
    ]


def test_redis_password_is_interpolated_from_the_secret_with_the_ca() -> None:
    env = deployment("keda", "worker")["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [e["name"] for e in env]
    url = env[names.index("INBOUND_REDIS_URL")]["value"]
    assert names.index("REDIS_PASSWORD") < names.index("INBOUND_REDIS_URL")  # $(VAR) needs it defined first
    assert (
        url
        == "rediss://:$(REDIS_PASSWORD)@redis.data.svc.cluster.local:6380/2?ssl_ca_certs=/etc/infobip-inbound/redis-ca/ca.crt"
    )


def test_sentinel_mode_passes_the_sentinels() -> None:
    env = env_of(deployment("sentinel", "receiver")["spec"]["template"]["spec"]["containers"][0])
    assert "INBOUND_REDIS_URL" not in env
    assert env["INBOUND_REDIS_SENTINEL_MASTER"]["value"] == "mymaster"
    assert len(env["INBOUND_REDIS_SENTINELS"]["value"].split(",")) == 3
    assert env["INBOUND_REDIS_SENTINEL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "redis"


@pytest.mark.parametrize(
    ("values", "replicas"),
    [
        ([], 0),  # one endpoint and no replicas declared: the primary alone
        (["redis.replicas=2"], 1),
        (["redis.mode=sentinel", "redis.sentinel.hosts={s-0:26379}"], 1),
        (["redis.mode=sentinel", "redis.sentinel.hosts={s-0:26379}", "redis.ackReplicas=0"], 0),
        (["redis.ackReplicas=2", "redis.ackTimeoutMs=250"], 2),
    ],
)
def test_writes_wait_for_a_replica_wherever_one_is_declared(values: list[str], replicas: int) -> None:
    args = [arg for value in values for arg in ("--set", value)]
    result = helm("template", "inbound", str(CHART), "--show-only", "templates/configmap.yaml", *args)
    assert result.returncode == 0, result.stderr
    (configmap,) = [c for c in yaml.safe_load_all(result.stdout) if c and "config.toml" in c["data"]]
    settings = tomllib.loads(configmap["data"]["config.toml"])
    assert settings["redis_ack_replicas"] == replicas
    assert settings["redis_ack_timeout_ms"] == (250 if "redis.ackTimeoutMs=250" in values else 1000)


def test_the_sentinel_example_acknowledges_one_replica() -> None:
    assert config_toml("sentinel")["redis_ack_replicas"] == 1
    assert config_toml("default")["redis_ack_replicas"] == 0


def inbox_prefix() -> str:
    """The store's INBOX_PREFIX, read from its source (this check's environment does not install the app)."""
    source = (ROOT / "infobip_inbound/contract/store/keys.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["INBOX_PREFIX"]:
            assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            return node.value.value
    raise AssertionError("INBOX_PREFIX not found in the store's keys")


def test_the_chart_names_the_inbox_lists_as_the_store_does() -> None:
    helpers = (CHART / "templates/_helpers.tpl").read_text()
    assert '{{- define "inbound.inboxPrefix" -}}' + inbox_prefix() + "{{- end -}}" in helpers
    assert "inbound:inbox:" not in (CHART / "templates/keda.yaml").read_text()


@pytest.mark.parametrize("name", ["keda", "sentinel"])
def test_keda_scales_workers_on_every_rq_queue_list(name: str) -> None:
    (scaled,) = of_kind(name, "ScaledObject")
    worker = deployment(name, "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert "replicas" not in worker["spec"]
    queues = [values_of(name)["config"]["defaultQueue"]] + [
        r["queue"] for r in values_of(name)["config"]["routes"] if r.get("queue")
    ]
    assert [t["metadata"]["listName"] for t in scaled["spec"]["triggers"]] == [f"{inbox_prefix()}{q}" for q in queues]
    assert all(t["authenticationRef"] for t in scaled["spec"]["triggers"])


@pytest.mark.parametrize("name", SETS)
def test_only_the_receiver_port_is_open(name: str) -> None:
    for policy in of_kind(name, "NetworkPolicy"):
        role = policy["metadata"]["labels"]["app.kubernetes.io/component"]
        ingress = policy["spec"]["ingress"]
        if role == "receiver":
            assert [p["port"] for rule in ingress for p in rule["ports"]] == ["http"]
        elif not values_of(name)[{"worker": "workers"}.get(role, role)]["health"]["port"]:
            assert ingress == []
        egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
        assert 53 in egress_ports


@pytest.mark.parametrize("name", SETS)
def test_disruption_budgets_and_receiver_autoscaling(name: str) -> None:
    budgets = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in of_kind(name, "PodDisruptionBudget")}
    roles = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in of_kind(name, "Deployment")}
    assert budgets == roles
    (hpa,) = of_kind(name, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment(name, "receiver")["metadata"]["name"]


def test_monitoring_is_off_by_default_and_wired_when_enabled() -> None:
    kinds = {o["kind"] for o in objects("default")}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    (monitor,) = of_kind("production", "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0] == {**monitor["spec"]["endpoints"][0], "port": "http", "path": "/metrics"}
    (rule,) = of_kind("production", "PrometheusRule")
    alerts = {r["alert"] for r in rule["spec"]["groups"][0]["rules"]}
    assert alerts == {
        "InfobipInboundQueueBacklog",
        "InfobipInboundDeadLetterGrowing",
        "InfobipInboundReceiverErrors",
        "InfobipInboundOldestJobTooOld",
        "InfobipInboundQuarantineNotEmpty",
        "InfobipInboundQuarantineEvicting",
        "InfobipInboundRedisUnreachable",
        "InfobipInboundPollerNotLeading",
        "InfobipInboundPollerNotDraining",
        "InfobipInboundHandlerBreakerOpen",
        "InfobipInboundHandlerLagging",
    }
    assert any("infobip-inbound.json" in c["data"] for c in of_kind("production", "ConfigMap"))
    monitors = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in of_kind("production", "PodMonitor")}
    assert set(monitors) == {"worker", "poller"}
    for role, monitor in monitors.items():
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("health", "/metrics")
        ports = deployment("production", role)["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert "health" in {p["name"] for p in ports}


def test_alerts_and_dashboard_use_metrics_the_application_exports() -> None:
    """Every infobip_inbound_* name in the rules and the dashboard is one the application defines."""
    import re

    root = CHART.parent.parent
    exported = set()
    for portion in ("infobip_inbound", "receiver/infobip_inbound", "workers/infobip_inbound"):
        for source in (root / portion).rglob("*.py"):
            exported |= set(re.findall(r'"(infobip_inbound_[a-z_]+)"', source.read_text()))
    counters = {"infobip_inbound_http_requests", "infobip_inbound_messages", "infobip_inbound_rejected",
                "infobip_inbound_handled", "infobip_inbound_job_retries", "infobip_inbound_poller_pull_errors",
                "infobip_inbound_poller_pulls", "infobip_inbound_poller_pulled_messages",
                "infobip_inbound_quarantine_evicted"}  # fmt: skip
    exported |= {name + "_total" for name in exported & counters}
    exported |= {name + suffix for name in exported for suffix in ("_bucket", "_sum", "_count")}
    (rule,) = of_kind("production", "PrometheusRule")
    used = set(re.findall(r"infobip_inbound_[a-z_]+", json.dumps(rule["spec"])))
    used |= set(re.findall(r"infobip_inbound_[a-z_]+", (CHART / "files/dashboard.json").read_text()))
    assert used and used <= exported, used - exported


def test_status_page_tokens_reach_only_the_receiver() -> None:
    for role in ("receiver", "worker", "poller"):
        env = {e["name"] for e in deployment("production", role)["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert ("INBOUND_ADMIN_TOKENS" in env) == (role == "receiver")


def test_helm_test_hook_checks_readiness() -> None:
    (pod,) = [p for p in of_kind("default", "Pod") if p["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    assert "/health/ready" in pod["spec"]["containers"][0]["command"][-1]


def test_notes_print_the_forward_url() -> None:
    result = helm(
        "install",
        "inbound",
        str(CHART),
        "--dry-run=client",
        "-f",
        str(CHART / "examples/minimal.yaml"),
        "--set",
        "publicUrl=https://inbound.example.com",
    )
    assert result.returncode == 0, result.stderr
    token = values_of("minimal")["secrets"]["forwardTokens"][0]
    assert f"https://inbound.example.com/infobip/forward/{token}" in result.stdout


POLLER_ON = "poller.enabled=true,secrets.infobipApiKey=k,config.infobip.baseUrl=https://x.api.infobip.com"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("redis.url=http://cache:6379", "does not match pattern"),
        ("workers.processes=0", "minimum"),
        ("securityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation"),
        ("workers.terminationGracePeriodSeconds=60", "longer than config.jobTimeoutSeconds"),
        ("poller.enabled=true", "secrets.infobipApiKey"),
        ("redis.auth.enabled=true", "redis.auth.password"),
        (f"{POLLER_ON},poller.timeoutSeconds=10,poller.leaseSeconds=16", "must exceed poller.timeoutSeconds"),
        (f"{POLLER_ON},poller.spillDir=spill", "does not match pattern"),
        (f"{POLLER_ON},poller.limit=1001", "maximum"),
        (f"{POLLER_ON},poller.requestsPerSecond=11", "maximum"),
        ("redis.replicas=1,redis.ackTimeoutMs=5000", "redis.ackTimeoutMs must be below config.redisSocketTimeout"),
        ("redis.ackReplicas=-1", "minimum"),
    ],
)
def test_bad_values_fail_at_install(override: str, message: str) -> None:
    result = helm("template", "inbound", str(CHART), "--set", override)
    assert result.returncode != 0
    assert message in result.stderr


def _role(d: dict[str, Any]) -> str:
    return str(d["metadata"]["labels"]["app.kubernetes.io/component"])


@pytest.mark.parametrize("name", SETS)
def test_writers_start_only_once_a_worker_of_their_release_runs(name: str) -> None:
    # docs/deployment.md, "Versions side by side": workers roll out before the receiver and the poller.
    worker = deployment(name, "worker")["spec"]["template"]["spec"]["containers"][0]
    redis_env = {k: v for k, v in env_of(worker).items() if "REDIS" in k or k == "INBOUND_CONFIG_FILE"}
    writers = [d for d in of_kind(name, "Deployment") if _role(d) != "worker"]
    assert writers
    for d in writers:
        pod = d["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["args"][0] == "workers-ready" and init["image"] == pod["containers"][0]["image"]
        assert {k: v for k, v in env_of(init).items() if k in redis_env} == redis_env
        assert init["securityContext"] == pod["containers"][0]["securityContext"]
        assert init["resources"]["requests"]["memory"] and init["resources"]["limits"]["memory"]


def test_without_workers_in_the_release_writers_do_not_wait_for_them() -> None:
    result = helm("template", "inbound", str(CHART), "--set", "workers.enabled=false")
    assert result.returncode == 0, result.stderr
    (receiver,) = [
        doc
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc["kind"] == "Deployment" and _role(doc) == "receiver"
    ]
    assert "initContainers" not in receiver["spec"]["template"]["spec"]


# Chart defaults that differ from the application's on purpose, each with its reason (values.yaml says it too).
# Empty today: add `setting: reason` here and beside the value in values.yaml.
CHART_DEFAULTS_DIFFER: dict[str, str] = {}


def test_chart_defaults_are_the_applications() -> None:
    """Every setting the default values render into the config file has the application's default, unless the
    difference is listed (with its reason) above: the chart and the configuration reference never drift."""
    settings_class, _ = _settings_class()
    rendered = config_toml("default")
    differ = {}
    for key, value in rendered.items():
        field = settings_class.model_fields.get(key)
        assert field is not None, f"{key} is no setting"
        default = field.get_default(call_default_factory=True)
        default = getattr(default, "value", default)  # an enum's value, as TOML holds it
        if isinstance(default, tuple):
            default = list(default)
        if value != default and not (isinstance(value, int | float) and value == default):
            differ[key] = (value, default)
    unexplained = {key: pair for key, pair in differ.items() if key not in CHART_DEFAULTS_DIFFER}
    assert not unexplained, f"chart default (left) differs from the application's (right): {unexplained}"
