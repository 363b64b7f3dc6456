"""The Helm chart's pods as container runs, for scripts/containers.sh.

The chart is rendered offline (Helm as a library, as tests/test_chart.py does) and every
container of its migrations Job and Deployments becomes one line for the script, tab-separated:

    NAME  KIND  RUN-ARGS  READINESS  LIVENESS  STARTUP-SECONDS

KIND is job, init (an init container, run to its end before its pod's main one) or main;
RUN-ARGS are the engine's `run` arguments the chart implies (user, read-only root filesystem,
capabilities, the emptyDir mounts, memory limit, environment, image, args), shell-quoted;
READINESS and LIVENESS are the probes as `http PORT PATH`, `tcp PORT` or `exec ARGV...`
(shell-quoted; `-` for none); STARTUP-SECONDS is how long the startup probe allows.

So the containers run with what the chart gives them and nothing else: the same commands,
settings, writable paths and probes, with the values below changed only where a machine is not a
cluster (its own datastores, free ports, the API reached directly).
"""

import argparse
import base64
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "order-platform"
RELEASE = "order-platform"
RUNS = ("Job", "Deployment")  # the migrations first: they are a hook before everything else
UNITS = {"Ki": "k", "Mi": "m", "Gi": "g"}


def render(values: dict[str, Any], *, namespace: str | None = None) -> list[dict[str, Any]]:
    """The chart's manifests for ``values``, as Helm would install them (also for the tests)."""
    extra = {"namespace": namespace} if namespace else {}
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values=values, name=RELEASE, is_install=True, **extra)
    return [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def size(quantity: str) -> str:
    """A Kubernetes quantity (64Mi) as the engine writes it (64m)."""
    number, unit = re.fullmatch(r"(\d+)([KMG]i)?", str(quantity)).groups()
    return number + (UNITS[unit] if unit else "")


def environment(container: dict[str, Any], data: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's environment as the kubelet makes it: envFrom, then env in order, with
    $(NAME) references to what came before expanded."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        env.update(data[ref["name"]])
    for item in container.get("env", []):
        if "value" in item:
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), item["value"])
        else:
            ref = item["valueFrom"].get("secretKeyRef") or item["valueFrom"]["configMapKeyRef"]
            value = data[ref["name"]][ref["key"]]
        env[item["name"]] = value
    # The containers share the machine's network here: they listen on its loopback only.
    for name in ("WEB_BIND", "FLOWER_ADDRESS", "METRICS_ADDRESS"):
        if name in env:
            env[name] = env[name].replace("0.0.0.0", "127.0.0.1")
    return env


def probe(spec: dict[str, Any] | None, ports: dict[str, int]) -> list[str]:
    if not spec:
        return ["-"]
    if "httpGet" in spec:
        port = spec["httpGet"]["port"]
        return ["http", str(ports.get(port, port)), spec["httpGet"]["path"]]
    if "tcpSocket" in spec:
        port = spec["tcpSocket"]["port"]
        return ["tcp", str(ports.get(port, port))]
    return ["exec", *spec["exec"]["command"]]


def run_args(container: dict[str, Any], pod: dict[str, Any], env: dict[str, str]) -> list[str]:
    user = pod["securityContext"]
    assert user.get("runAsNonRoot") and user["runAsUser"] != 0, "the chart runs as non-root"
    context = container["securityContext"]
    args = [f"--user={user['runAsUser']}:{user['runAsGroup']}"]
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    args += [f"--cap-drop={cap.lower()}" for cap in context["capabilities"]["drop"]]
    if context.get("allowPrivilegeEscalation") is False:
        args.append("--security-opt=no-new-privileges")
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        empty = volumes[mount["name"]]["emptyDir"]  # the chart's only kind of volume
        options = ["rw", "mode=1777"]  # as an emptyDir: writable by the pod's user
        if "sizeLimit" in empty:
            options.append(f"size={size(empty['sizeLimit'])}")
        args.append(f"--tmpfs={mount['mountPath']}:{','.join(options)}")
    memory = container.get("resources", {}).get("limits", {}).get("memory")
    if memory:
        args.append(f"--memory={size(memory)}")
    args += [f"--env={name}={value}" for name, value in env.items()]
    return [*args, container["image"], *container.get("args", [])]


def lines(docs: list[dict[str, Any]]) -> list[str]:
    data = {
        doc["metadata"]["name"]: (
            {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
            if doc["kind"] == "Secret"
            else dict(doc.get("data", {}))
        )
        for doc in docs
        if doc["kind"] in ("ConfigMap", "Secret")
    }
    rows = []
    for kind in RUNS:
        for doc in (d for d in docs if d["kind"] == kind):
            pod = doc["spec"]["template"]["spec"]
            name = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            for container in pod.get("initContainers", []):
                args = run_args(container, pod, environment(container, data))
                rows.append(row(f"{name}-{container['name']}", "init", args))
            for container in pod["containers"]:
                ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
                startup = container.get("startupProbe") or {}
                rows.append(
                    row(
                        name,
                        "job" if kind == "Job" else "main",
                        run_args(container, pod, environment(container, data)),
                        ready=probe(container.get("readinessProbe"), ports),
                        live=probe(container.get("livenessProbe"), ports),
                        seconds=startup.get("periodSeconds", 10)
                        * startup.get("failureThreshold", 3),
                    )
                )
    return rows


def row(
    name: str,
    kind: str,
    args: list[str],
    *,
    ready: list[str] | None = None,
    live: list[str] | None = None,
    seconds: int = 0,
) -> str:
    fields = [args, ready or ["-"], live or ["-"]]
    return "\t".join([name, kind, *map(shlex.join, fields), str(seconds)])


def values_for(
    *, image: str, database_url: str, redis_url: str, web_port: int, flower_port: int
) -> dict[str, Any]:
    """The chart's values for containers on one machine: its image, datastores and ports."""
    repository, tag = image.rsplit(":", 1)
    redis = redis_url.rstrip("/")
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        # Reached directly, by its address, with no proxy in front.
        "config": {"DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "NUM_PROXIES": "0"},
        "secret": {
            "env": {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": f"{redis}/0",
                "REPLY_REDIS_URL": f"{redis}/1",
                "CACHE_URL": f"{redis}/2",
            }
        },
        "web": {"containerPort": web_port},
        "flower": {"containerPort": flower_port},
        # One network for all: every worker's metrics port would be the same one. The API's
        # /metrics is still served.
        "worker": {"metrics": {"enabled": False, "port": 9100}},
        "beat": {"metrics": {"enabled": False, "port": 9100}},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="REPOSITORY:TAG, already built")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True, help="redis://HOST:PORT, databases 0-2")
    parser.add_argument("--web-port", type=int, required=True)
    parser.add_argument("--flower-port", type=int, required=True)
    args = parser.parse_args(argv)
    print("\n".join(lines(render(values_for(**vars(args))))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
