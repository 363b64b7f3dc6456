"""The Kubernetes delivery, checked without a cluster: the Helm chart rendered offline (Helm as a
library) for its default values, a production-like release and the Istio + KEDA + Prometheus
Operator variant; every manifest against the Kubernetes API schemas; the Dockerfile through
hadolint; skaffold.yaml against the chart. What needs a cluster is in the README."""

import base64
import functools
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from scripts.bench import CHART_TRACING, TELEMETRY
from scripts.chart_containers import render

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "order-platform"
RELEASE = "order-platform"
NAMESPACE = "shop"
KUBERNETES_VERSION = "1.33"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
VARIANTS = {
    "default": [],
    "production": ["ci/production-values.yaml"],
    "edge": ["ci/edge-values.yaml"],
}
# The fields each custom resource the chart renders cannot do without (their CRDs' own).
CUSTOM_RESOURCES: dict[tuple[str, str], list[str]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ["spec.scaleTargetRef.name", "spec.triggers"],
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ["spec.secretTargetRef"],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["spec.selector", "spec.endpoints"],
    ("monitoring.coreos.com/v1", "PodMonitor"): ["spec.selector", "spec.podMetricsEndpoints"],
    ("monitoring.coreos.com/v1", "PrometheusRule"): ["spec.groups"],
    ("networking.istio.io/v1beta1", "Gateway"): ["spec.selector", "spec.servers"],
    ("networking.istio.io/v1beta1", "VirtualService"): ["spec.hosts", "spec.http"],
    ("security.istio.io/v1beta1", "RequestAuthentication"): ["spec.selector", "spec.jwtRules"],
    ("security.istio.io/v1beta1", "AuthorizationPolicy"): ["spec.selector", "spec.action"],
}
# Variables of .env.example that the chart sets per container from its own values.
CHART_MANAGED = {
    "WEB_BIND",
    "WEB_WORKERS",
    "WEB_CONNECTIONS",
    "WEB_DATABASE_SLOTS",
    "WORKER_POOL",
    "WORKER_CONCURRENCY",
    "HEARTBEAT_FILE",
    "HEARTBEAT_MAX_AGE",
    "BEAT_SCHEDULE_FILE",
    "FLOWER_ADDRESS",
    "FLOWER_PORT",
    "FLOWER_BASIC_AUTH",
    "METRICS_PORT",
    "METRICS_ADDRESS",
    "PROMETHEUS_MULTIPROC_DIR",
    "OTEL_SERVICE_NAME",
}
# Variables of .env.example the chart sets from a value of its own (in the ConfigMap).
CHART_VALUES = {"OTEL_EXPORTER_OTLP_ENDPOINT": ("observability", "otlpEndpoint")}
each_variant = pytest.mark.parametrize("variant", list(VARIANTS))


def values_of(variant: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in VARIANTS[variant]:
        values.update(yaml.safe_load((CHART / name).read_text()))
    return values


def render_values(values: dict[str, Any]) -> list[dict[str, Any]]:
    return render(values, namespace=NAMESPACE)


@functools.cache
def _rendered(variant: str) -> tuple[dict[str, Any], ...]:
    return tuple(render_values(values_of(variant)))


def manifests(variant: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [doc for doc in _rendered(variant) if kind is None or doc["kind"] == kind]


def named(variant: str, kind: str, name: str) -> dict[str, Any]:
    (doc,) = [doc for doc in manifests(variant, kind) if doc["metadata"]["name"] == name]
    return doc


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def pod_specs(variant: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in manifests(variant):
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def dig(doc: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def worker_deployments(variant: str) -> dict[str, dict[str, Any]]:
    return {
        component(doc).removeprefix("worker-"): doc
        for doc in manifests(variant, "Deployment")
        if component(doc).startswith("worker-")
    }


@each_variant
def test_the_chart_lints_clean(variant):
    report = helm.lint(CHART, values_of(variant), strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@each_variant
def test_every_manifest_is_valid_for_kubernetes(variant):
    kinds = set()
    for doc in manifests(variant):
        kinds.add(doc["kind"])
        required = CUSTOM_RESOURCES.get((doc["apiVersion"], doc["kind"]))
        if required is None:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        else:
            missing = [field for field in required if dig(doc, field) in (None, [], {})]
            assert not missing, (doc["kind"], doc["metadata"]["name"], missing)
    if variant == "edge":
        assert {kind for _, kind in CUSTOM_RESOURCES} <= kinds


@each_variant
def test_one_worker_deployment_per_domain_queue_consuming_only_it(variant):
    queues = [
        queue["name"]
        for queue in helm.values_from_yaml((CHART / "values.yaml").read_text())["worker"]["queues"]
    ]
    assert tuple(queues) == settings.DOMAIN_QUEUES  # a new domain cannot be forgotten here
    workers = worker_deployments(variant)
    assert sorted(workers) == sorted(settings.DOMAIN_QUEUES)
    for queue, doc in workers.items():
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["worker", queue]


def test_the_procfile_starts_the_same_roles_through_the_same_entry_point():
    lines = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert all(command.startswith("scripts/entrypoint.sh ") for command in lines.values())
    workers = [c.split()[-1] for c in lines.values() if c.split()[1] == "worker"]
    assert sorted(workers) == sorted(settings.DOMAIN_QUEUES)


@each_variant
def test_beat_is_a_singleton(variant):
    beat = named(variant, "Deployment", f"{RELEASE}-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    scaled = [dig(doc, "spec.scaleTargetRef.name") for doc in manifests(variant)]
    assert f"{RELEASE}-beat" not in scaled


@each_variant
def test_migrations_run_in_a_hook_and_no_pod_starts_before_them(variant):
    (job,) = manifests(variant, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    # What the Job reads exists before it: its ConfigMap and Secret are earlier hooks.
    for doc in manifests(variant, "ConfigMap") + manifests(variant, "Secret"):
        if doc["metadata"]["name"].endswith(("-config", "-secret")):
            hook = doc["metadata"]["annotations"]
            assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
            assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    for doc in manifests(variant, "Deployment"):
        if component(doc) == "flower":  # reads the broker only
            continue
        init = doc["spec"]["template"]["spec"]["initContainers"]
        assert [c["args"] for c in init] == [["wait-for-migrations"]], doc["metadata"]["name"]


@each_variant
def test_probes_and_resources_on_every_container(variant):
    for name, spec in pod_specs(variant):
        for container in containers(spec):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), (name, container["name"])
            assert "memory" in resources["limits"], (name, container["name"])
    for doc in manifests(variant, "Deployment"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, (doc["metadata"]["name"], probe)


@each_variant
def test_the_api_probes_and_the_heartbeat_probes(variant):
    (web,) = named(variant, "Deployment", f"{RELEASE}-web")["spec"]["template"]["spec"][
        "containers"
    ]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"  # no database, no slot
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"  # PostgreSQL and Redis
    assert settings.MIDDLEWARE[0] == "gateway_django.health.ProbeMiddleware"
    beat = named(variant, "Deployment", f"{RELEASE}-beat")
    for doc in [*worker_deployments(variant).values(), beat]:
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["HEARTBEAT_FILE"].startswith("/tmp/")
        assert container["livenessProbe"]["exec"]["command"] == [
            "/app/scripts/entrypoint.sh",
            "healthcheck",
        ]


@each_variant
def test_every_pod_is_locked_down(variant):
    for name, spec in pod_specs(variant):
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            for mount in container.get("volumeMounts", []):
                assert "emptyDir" in volumes[mount["name"]], (name, mount)


def secret_data(docs: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
        for doc in docs
        if doc["kind"] == "Secret"
    }


@each_variant
def test_no_secret_is_rendered_with_a_default_password(variant):
    secrets = secret_data(manifests(variant))
    if variant == "production":
        assert secrets == {}  # every credential comes from a Secret made outside the chart
        for _, spec in pod_specs(variant):
            for container in containers(spec):
                refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
                assert refs == ["order-platform-secrets"]
        return
    env, flower = secrets[f"{RELEASE}-secret"], secrets[f"{RELEASE}-flower"]
    for url in ("DATABASE_URL", "CELERY_BROKER_URL", "REPLY_REDIS_URL", "CACHE_URL"):
        assert not re.search(r"://[^/@]*:[^/@]*@", env[url]), f"a default password in {url}"
    # Made at install (and kept across upgrades by lookup), never a value of the chart.
    again = secret_data(render_values(values_of(variant)))
    assert len(env["DJANGO_SECRET_KEY"]) >= 50
    assert env["DJANGO_SECRET_KEY"] != again[f"{RELEASE}-secret"]["DJANGO_SECRET_KEY"]
    assert len(flower["password"]) >= 32
    assert flower["password"] != again[f"{RELEASE}-flower"]["password"]
    if variant == "edge":
        assert env["JWT_PRIVATE_KEY"].startswith("-----BEGIN RSA PRIVATE KEY-----")


@each_variant
def test_every_setting_of_env_example_is_reachable_from_values(variant):
    names = set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    with helm.Chart.load(CHART) as chart:
        schema = chart.schema
    assert schema is not None
    config = set(schema["properties"]["config"]["properties"])
    secret = set(schema["properties"]["secret"]["properties"]["env"]["properties"])
    assert not config & secret
    assert config | secret | CHART_MANAGED | set(CHART_VALUES) == names
    for section, key in CHART_VALUES.values():
        assert key in schema["properties"][section]["properties"]
    set_by_chart = {
        e["name"]
        for _, spec in pod_specs(variant)
        for c in containers(spec)
        for e in c.get("env", [])
    }
    assert set_by_chart >= CHART_MANAGED


@each_variant
def test_wrong_values_fail_at_install_with_a_message(variant):
    with helm.Chart.load(CHART) as chart:
        for wrong, message in [
            ({"config": {"GATEWAY_REPLY_TIMOUT": "5"}}, "GATEWAY_REPLY_TIMOUT"),
            ({"worker": {"queues": [{"name": "billing", "pool": "fork"}]}}, "/worker/queues/0"),
            ({"web": {"replicas": "two"}}, "/web/replicas"),
            ({"containerSecurityContext": {"readOnlyRootFilesystem": False}}, "readOnly"),
            ({"istio": {"enabled": True}, "config": {"JWT_ALGORITHM": "HS256"}}, "RS256"),
        ]:
            with pytest.raises(helm.HelmError, match=re.escape(message)):
                chart.render(values={**values_of(variant), **wrong}, name=RELEASE)


@each_variant
def test_scaling_follows_the_values(variant):
    hpas = {
        doc["spec"]["scaleTargetRef"]["name"]
        for doc in manifests(variant, "HorizontalPodAutoscaler")
    }
    scaled_objects = manifests(variant, "ScaledObject")
    assert f"{RELEASE}-web" in hpas
    queues = {q["name"]: q for q in values_of(variant).get("worker", {}).get("queues", [])}
    for queue, doc in worker_deployments(variant).items():
        autoscaled = queues.get(queue, {}).get("autoscaling", {}).get("enabled", False)
        name = doc["metadata"]["name"]
        assert ("replicas" in doc["spec"]) is not autoscaled
        if variant == "edge":
            (scaled,) = [s for s in scaled_objects if s["spec"]["scaleTargetRef"]["name"] == name]
            (trigger,) = scaled["spec"]["triggers"]
            assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == queue
            assert name not in hpas
        else:
            assert (name in hpas) is autoscaled


@each_variant
def test_the_edge(variant):
    policies = {doc["metadata"]["name"]: doc for doc in manifests(variant, "NetworkPolicy")}
    web = policies[f"{RELEASE}-web"]["spec"]["ingress"][0]["from"]
    allowed = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in web
    }
    assert allowed == {"ingress-nginx", "istio-system", "monitoring"}
    for datastore in ("postgresql", "redis"):
        (rule,) = policies[f"{RELEASE}-{datastore}"]["spec"]["ingress"]
        app, *others = rule["from"]
        assert app["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
        keda = variant == "edge" and datastore == "redis"  # KEDA reads the queues' lengths
        assert others == (
            [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "keda"}}}] if keda else []
        )
    # Workers and beat: their metrics port, to Prometheus's namespaces, and nothing else.
    (scrape,) = policies[f"{RELEASE}-internal"]["spec"]["ingress"]
    assert scrape["ports"] == [{"port": 9100, "protocol": "TCP"}]
    assert [p["namespaceSelector"]["matchLabels"][NAMESPACE_LABEL] for p in scrape["from"]] == [
        "monitoring"
    ]
    egress = policies.get(f"{RELEASE}-egress")
    if variant == "production":
        # The pods reach names, the datastores, the traces' collector and the SMTP server only.
        rules = egress["spec"]["egress"]
        assert egress["spec"]["policyTypes"] == ["Egress"]
        ports = [sorted(p["port"] for p in rule["ports"]) for rule in rules]
        assert ports == [[53, 53], [5432], [6379], [4318], [587]]
        collector = rules[3]["to"][0]["namespaceSelector"]["matchLabels"]
        assert collector == {NAMESPACE_LABEL: "observability"}
    else:
        assert egress is None
    ingresses = {doc["metadata"]["name"]: doc for doc in manifests(variant, "Ingress")}
    assert f"{RELEASE}-flower" not in ingresses  # Flower is not exposed by default
    if variant == "edge":
        assert not ingresses
        gateway = named(variant, "Gateway", RELEASE)
        assert gateway["spec"]["servers"][0]["hosts"] == ["arch.homework"]
        (rule,) = named(variant, "RequestAuthentication", f"{RELEASE}-jwt")["spec"]["jwtRules"]
        assert rule["jwksUri"].endswith("/.well-known/jwks.json")
        config = named(variant, "ConfigMap", f"{RELEASE}-config")["data"]
        assert config["JWT_ISSUER"] == rule["issuer"] and config["JWT_ALGORITHM"] == "RS256"
        assert config["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://")
        # Every order traced, whole, up to 12 traces a minute per process: the setting whose
        # cost docs/performance.md measures.
        assert config["OTEL_TRACES_SAMPLER_ARG"] == "1"
        assert config["TRACES_PER_MINUTE"] == "12"
        # make bench --telemetry measures that same setting as the chart's.
        sampling = ("OTEL_TRACES_SAMPLER_ARG", "TRACES_PER_MINUTE")
        assert {key: TELEMETRY[CHART_TRACING][key] for key in sampling} == {
            key: config[key] for key in sampling
        }
        (deny,) = manifests(variant, "AuthorizationPolicy")
        assert deny["spec"]["action"] == "DENY"  # a token of no known issuer; none: the API's 401
        strict = values_of(variant) | {"istio": {"enabled": True, "jwt": {"requireToken": True}}}
        (allow,) = [d for d in render_values(strict) if d["kind"] == "AuthorizationPolicy"]
        public, authenticated = allow["spec"]["rules"]
        assert "/login/" in public["to"][0]["operation"]["paths"]
        assert authenticated["from"][0]["source"]["requestPrincipals"] == ["*"]
    else:
        rule = ingresses[RELEASE]["spec"]["rules"][0]
        assert rule["host"] == "arch.homework"
        hosts = named(variant, "ConfigMap", f"{RELEASE}-config")["data"]["DJANGO_ALLOWED_HOSTS"]
        assert "arch.homework" in hosts.split(",")


@each_variant
def test_every_process_has_its_metrics_scraped(variant):
    beat = named(variant, "Deployment", f"{RELEASE}-beat")
    scraped = {**worker_deployments(variant), "beat": beat}
    for name, doc in scraped.items():
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["METRICS_PORT"] == "9100" and env["METRICS_ADDRESS"] == "0.0.0.0", name
        # A worker's pool processes add up their files; beat is one process.
        assert (env.get("PROMETHEUS_MULTIPROC_DIR") or "").startswith("/tmp/") is (name != "beat")
    if variant != "edge":
        for doc in [*scraped.values(), named(variant, "Deployment", f"{RELEASE}-web")]:
            annotations = doc["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true", doc["metadata"]["name"]
        return
    (monitor,) = manifests(variant, "PodMonitor")
    (selected,) = monitor["spec"]["selector"]["matchExpressions"]
    assert sorted(selected["values"]) == sorted(component(doc) for doc in scraped.values())
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    (endpoint,) = named(variant, "ServiceMonitor", f"{RELEASE}-web")["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"]["key"] == "METRICS_TOKEN"
    # The alerts and the dashboard are the repository's files, as they are.
    (rule,) = manifests(variant, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    dashboard = named(variant, "ConfigMap", f"{RELEASE}-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["data"]["order-platform.json"] == (
        (CHART / "files" / "order-platform-dashboard.json").read_text()
    )


def test_the_api_metrics_token_is_made_at_install():
    """The API's port is also the Ingress's: /metrics wants a token, random unless given."""
    env = secret_data(manifests("default"))[f"{RELEASE}-secret"]
    again = secret_data(render_values({}))[f"{RELEASE}-secret"]
    assert len(env["METRICS_TOKEN"]) >= 32 and env["METRICS_TOKEN"] != again["METRICS_TOKEN"]
    given = render_values({"secret": {"env": {"METRICS_TOKEN": "t" * 40}}})
    assert secret_data(given)[f"{RELEASE}-secret"]["METRICS_TOKEN"] == "t" * 40


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in dockerfile
    assert "USER 10001:10001" in dockerfile and "HEALTHCHECK" in dockerfile


def test_skaffold_builds_the_image_the_chart_runs():
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    (artifact,) = skaffold["build"]["artifacts"]
    image = artifact["image"]
    assert (
        image == helm.values_from_yaml((CHART / "values.yaml").read_text())["image"]["repository"]
    )
    releases = {r["name"]: r for r in skaffold["deploy"]["helm"]["releases"]}
    app = releases[RELEASE]
    assert (ROOT / app["chartPath"]).resolve() == CHART
    key = re.sub(r"[^A-Za-z0-9]", "_", image)
    assert app["setValueTemplates"]["image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
    assert app["setValueTemplates"]["image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
    redis = releases[f"{RELEASE}-redis"]
    assert "appendonly yes" in redis["overrides"]["commonConfiguration"].splitlines()
    assert redis["setValues"]["master.persistence.enabled"] is True
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    assert {"dev", "istio"} <= set(profiles)
    # What skaffold passes to the chart is valid for it, in every profile.
    index = list(releases).index(RELEASE)
    for profile in [None, *profiles.values()]:
        flat = {**app["setValues"], **{k: "x" for k in app["setValueTemplates"]}}
        for patch in profile["patches"] if profile else []:
            prefix = f"/deploy/helm/releases/{index}/setValues/"
            assert patch["op"] == "add" and patch["path"].startswith(prefix)
            flat[patch["path"].removeprefix(prefix)] = patch["value"]
        values: dict[str, Any] = {}
        for key, value in flat.items():
            *parents, leaf = key.split(".")
            node = values
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        docs = render_values(values)
        if profile and profile["name"] == "istio":
            assert {"Gateway", "VirtualService"} <= {doc["kind"] for doc in docs}


@pytest.mark.parametrize(
    "toggles",
    [
        {"flower": {"enabled": False}, "networkPolicy": {"enabled": False}},
        {"migrate": {"useHelmHooks": False}, "ingress": {"enabled": False}},
        {"flower": {"ingress": {"enabled": True}}, "web": {"metrics": {"enabled": True}}},
        {
            "worker": {"metrics": {"enabled": False, "port": 9100}},
            "beat": {"metrics": {"enabled": False, "port": 9100}},
            "observability": {"serviceMonitor": {"enabled": True, "interval": "30s"}},
        },
    ],
    ids=["no flower, no policies", "no hooks", "flower ingress, API metrics", "no process metrics"],
)
def test_the_switches_render_valid_manifests(toggles):
    docs = render_values(toggles)
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) not in CUSTOM_RESOURCES:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = [doc["kind"] for doc in docs]
    if toggles.get("migrate", {}).get("useHelmHooks") is False:
        (job,) = [doc for doc in docs if doc["kind"] == "Job"]
        assert "annotations" not in job["metadata"]  # an ordinary Job, one per revision
        assert all(
            "annotations" not in doc["metadata"] for doc in docs if doc["kind"] == "ConfigMap"
        )
    if toggles.get("worker", {}).get("metrics", {}).get("enabled") is False:
        assert "PodMonitor" not in kinds
        (internal,) = [d for d in docs if d["metadata"]["name"] == f"{RELEASE}-internal"]
        assert "ingress" not in internal["spec"]
    if toggles.get("flower", {}).get("enabled") is False:
        assert not any("flower" in doc["metadata"]["name"] for doc in docs)
        assert "NetworkPolicy" not in kinds
