"""Saga benchmark: orders through the HTTP API against the pipeline's own ceiling and against
bare Celery.

Starts a stack of its own (the same script as `make run`, on its own port, database and Redis
databases), and beside it the bare reference: a minimal Celery app (bench/bare.py: no Django, no
project code) with one worker per queue on the same Redis server. Registers and funds users,
then measures:

1. unloaded: one client, one request at a time: the latency of the bare chain and of the
   pipeline's no-op chain (both with the saga's deliveries: orders → billing → orders → gateway
   and notifications) and of an order's saga;
2. the bare chain and the pipeline's chain (the ceiling) under load: --clients chains in flight
   for --duration seconds after --warmup seconds;
3. the saga under load: --clients HTTP clients placing orders for --duration seconds, each
   timed from POST /order/ to the order's final status (a closed loop: the throughput);
4. the saga under a steady load: orders arriving at --load times that throughput (or --rate
   per second), whatever the latency (an open loop: the latency a service run so would see);
5. the design's invariants over everything the run did.

Writes results/bench-<time>.json and .png (git ignores results/).

With --telemetry it measures instead what metrics and tracing cost: the saga alone (unloaded
latency, then the closed loop) with each setting on a stack of its own, loaded at the same time
as a second stack (--port + 20, --paired-redis-dbs) with telemetry off (METRICS_ENABLED=false),
over --rounds rounds, the two swapping stacks from round to round: metrics on (the default),
and metrics with tracing exporting over OTLP to a local collector that keeps nothing
(bench/otlp_sink.py), every order traced and as the chart traces them (12 traces a minute per
process, kernel/telemetry/tracing.Budget). The two stacks share the machine's drift, so the
ratio of their throughputs is the setting's cost; the CPU time each stack's processes used a
saga in the same window, by role, is the same cost seen from the work done.
--settings runs only the settings named (comma-separated), or settings of one's own, each
"name:KEY=VALUE+KEY=VALUE" added to the environment of telemetry off (a VALUE of "sink" is the
local collector's address). Writes results/telemetry-<time>.json.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TERMINAL = {"confirmed", "rejected", "cancelled"}
# Deliveries one after another on the saga's critical path (orders, billing, orders, gateway).
HOPS = 4
# Five plain Python processes passing a message along five Redis lists (BRPOP/LPUSH, redis-py,
# no Celery), unloaded, on the development machine: 1.29 ms p50 for five hops.
PLAIN_REDIS_HOP_MS = round(1.29 / 5, 2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(latencies: list[float], seconds: float, done: int) -> dict:
    ms = [x * 1000 for x in latencies]
    return {
        "completed": done,
        "per_second": round(done / seconds, 1) if seconds else 0,
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
    }


class Stack:
    """The stack of `make run`, isolated for the benchmark."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.port = args.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = args.database
        self.redis_dbs = [int(db) for db in args.redis_dbs.split(",")]
        self.redis = args.redis.rstrip("/")
        self.bare = Bare(args, f"{self.redis}/{args.bare_redis_db}")
        self.log = ROOT / "var" / f"bench-stack-{self.port}.log"
        broker, replies, cache = (f"{self.redis}/{db}" for db in self.redis_dbs)
        self.env = {
            **os.environ,
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "FLOWER_PORT": str(args.port + 1),
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.database}",
            "CELERY_BROKER_URL": broker,
            "REPLY_REDIS_URL": replies,
            "CACHE_URL": cache,
            "THROTTLE_REGISTER": "",
            "THROTTLE_LOGIN_IP": "",
            "THROTTLE_LOGIN_USER": "",
            "GATEWAY_REPLY_TIMEOUT": "10",
            "WORKER_CONCURRENCY": str(args.worker_concurrency),
            "WORKER_POOL": args.pool,
            "LOG_LEVEL": "WARNING",
            "CELERY_LOG_LEVEL": "WARNING",
            "WEB_ACCESS_LOG": "/dev/null",
            "DJANGO_DEBUG": "false",
            # Task events as production has them (off), or on with Flower asking for them as
            # it does by default (--task-events): what Flower's task list costs.
            "CELERY_WORKER_SEND_TASK_EVENTS": str(args.task_events).lower(),
            "FLOWER_ENABLE_EVENTS": str(args.task_events).lower(),
            # Emails are stored and "sent" through a backend that drops them: the console
            # backend would measure the stack printing them.
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            # The ceiling's no-op task, which no production process loads.
            "CELERY_IMPORTS": "bench.echo",
        }
        self.proc: subprocess.Popen | None = None

    def reset(self) -> None:
        import redis

        for db in [*self.redis_dbs, self.bare.db]:
            redis.Redis.from_url(f"{self.redis}/{db}").flushdb()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-q",
                "-c",
                f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)",
            ],
            check=True,
            capture_output=True,
        )

    def start(self, *, bare: bool = True) -> None:
        import socket

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                sys.exit(f"bench: port {self.port} is taken (another bench still running?)")
        self.reset()
        (ROOT / "var").mkdir(exist_ok=True)
        log = open(self.log, "wb")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import httpx

        # A machine busy with other work may take minutes to migrate and start the stack.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: the stack stopped; see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            self.stop()  # else its processes outlive the benchmark and hold its port
            sys.exit(f"bench: the stack did not become ready; see {self.log}")
        if bare:
            self.bare.start()

    def cpu_seconds(self) -> dict[str, float]:
        """The CPU time used so far by the processes of the stack (its session), by role: the
        API, each worker with its pool's processes, beat, flower, and the rest (the process
        manager). An ended process counts through its parent's."""
        tick = os.sysconf("SC_CLK_TCK")
        used: Counter = Counter()
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                fields = (proc / "stat").read_text().rpartition(")")[2].split()
                if not self.proc or int(fields[3]) != self.proc.pid:  # session
                    continue
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:  # ended meanwhile: its time is its parent's now
                continue
            used[_role(argv)] += sum(int(f) for f in fields[11:15]) / tick  # u, s, cu, cs
        return dict(used)

    def stop(self) -> None:
        self.bare.stop()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _role(argv: list[bytes]) -> str:
    words = [a.decode(errors="replace") for a in argv]
    if any("gunicorn" in w for w in words):
        return "web"
    if "worker" in words and "-Q" in words:
        return f"worker {words[words.index('-Q') + 1]}"
    for role in ("beat", "flower"):
        if role in words or f"gateway_django.{role}" in words:
            return role
    return "other"


class Bare:
    """The bare reference's workers: bench/bare.py, one Celery worker per queue of the saga's
    route, with Celery's defaults, on a Redis database of their own."""

    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.url = url
        self.db = args.bare_redis_db
        self.pool, self.concurrency = args.bare_pool, args.bare_concurrency
        self.log = ROOT / "var" / f"bench-bare-{args.port}.log"
        # Nothing of the project's configuration: CELERY_BROKER_URL would override the app's.
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_"))}
        self.env = {**clean, "BARE_BROKER_URL": url, "BARE_REPLY_URL": url, "PYTHONPATH": str(ROOT)}
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        from bench.bare import QUEUES

        log = open(self.log, "wb")  # noqa: SIM115 - the children keep it
        for queue in QUEUES:
            command = [sys.executable, "-m", "celery", "-A", "bench.bare", "worker", "-Q", queue]
            command += ["-n", f"bare-{queue}@%h", "--pool", self.pool]
            command += ["--concurrency", str(self.concurrency), "-l", "WARNING"]
            command += ["--without-gossip", "--without-mingle"]
            self.procs.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        # A message sent before a worker listens waits in its queue: the warm-up chains wait
        # for the workers. One that stops at once is reported here.
        time.sleep(1)
        if any(proc.poll() is not None for proc in self.procs):
            sys.exit(f"bench: a bare worker stopped; see {self.log}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def setup_django(env: dict[str, str]) -> None:
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "REPLY_REDIS_URL", "CACHE_URL"):
        os.environ[key] = env[key]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_django.settings.local")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def make_users(url: str, count: int, funds: str) -> list[str]:
    """Register, log in and fund ``count`` users through the API; their access tokens."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    run = uuid.uuid4().hex[:8]

    def one(i: int) -> str:
        with httpx.Client(base_url=url, timeout=30) as http:
            name = f"bench_{run}_{i}"
            body = {
                "username": name,
                "email": f"{name}@example.com",
                "password": "bench-password-123",
            }
            assert http.post("/register/", json=body).status_code in (201, 202)
            for _ in range(100):
                login = http.post(
                    "/login/", json={"username": name, "password": "bench-password-123"}
                )
                if login.status_code == 200:
                    break
                time.sleep(0.1)
            token = login.json()["access"]
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(100):
                if http.get("/account/", headers=headers).status_code == 200:
                    break
                time.sleep(0.1)
            assert http.post(
                "/transaction/", json={"amount": funds}, headers=headers
            ).status_code in (201, 202)
            return token

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(count)))


def drive(
    name: str, clients: int, duration: float, step, progress: bool, warmup: float = 0.0
) -> dict:
    """Run ``step()`` in ``clients`` threads for ``warmup`` + ``duration`` seconds; each returns
    (latency seconds, outcome) or raises. Counts what completes within the ``duration`` after
    the warm-up (all the clients start at once, so the first seconds move in waves; and what
    completes after the end, while no new step starts, is a tail of fewer clients). Collects
    latencies, outcomes, errors (all of them), a time series."""
    from tqdm import tqdm

    results: list[tuple[float, float, str]] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + warmup + duration
    total = int(warmup + duration)
    bar = tqdm(total=total, desc=name, unit="s", disable=not progress, leave=False)

    def loop() -> None:
        while time.monotonic() < stop_at:
            try:
                latency, outcome = step()
            except Exception as exc:  # counted, never hidden
                with lock:
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                continue
            with lock:
                results.append((time.monotonic() - start, latency, outcome))

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    window = (warmup, warmup + duration)
    return _run(threads, bar, start, results, errors, window, clients=clients, warmup_s=warmup)


def _run(threads, bar, start, results, errors, window: tuple[float, float], **extra) -> dict:
    """Start ``threads``, show their progress until they end, and report what they recorded,
    (seconds since start, latency, outcome) per step, that completed within ``window``
    (seconds since start), and errors by kind."""
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        bar.n = min(int(time.monotonic() - start), bar.total)
        bar.set_postfix(done=len(results), errors=sum(errors.values()))
        bar.refresh()
    bar.close()
    kept = [r for r in results if window[0] <= r[0] <= window[1]]
    seconds = window[1] - window[0]
    series = Counter(int(t) for t, _, _ in results)
    report = summary([lat for _, lat, _ in kept], seconds, len(kept))
    report.update(
        **extra,
        seconds=round(seconds, 1),
        outcomes=dict(Counter(o for _, _, o in kept)),
        errors=dict(errors),
        per_second_series=[series.get(s, 0) for s in range(max(series, default=0) + 1)],
        latencies_ms=[round(lat * 1000, 2) for _, lat, _ in kept],
    )
    return report


def drive_open(name: str, rate: float, duration: float, clients: int, step, progress: bool):
    """Start ``step()`` at ``rate`` per second (Poisson arrivals) for ``duration`` seconds,
    whatever the latency, on at most ``clients`` threads; each is timed from the moment it was
    due, so time spent waiting for a free client counts (no coordinated omission)."""
    import queue

    from tqdm import tqdm

    arrivals: queue.Queue = queue.Queue()
    results: list[tuple[float, float, str]] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    start = time.monotonic()
    bar = tqdm(total=int(duration), desc=name, unit="s", disable=not progress, leave=False)

    def schedule() -> None:
        arrivals_rng = random.Random(7)
        due = start
        while (due := due + arrivals_rng.expovariate(rate)) < start + duration:
            time.sleep(max(0.0, due - time.monotonic()))
            arrivals.put(due)
        for _ in range(clients):
            arrivals.put(None)

    def loop() -> None:
        while (due := arrivals.get()) is not None:
            try:
                _, outcome = step()
            except Exception as exc:  # counted, never hidden
                with lock:
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                continue
            with lock:
                results.append((time.monotonic() - start, time.monotonic() - due, outcome))

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    threads.append(threading.Thread(target=schedule, daemon=True))
    # Every order that was due counts, however late it completes: that lateness is the point.
    window = (0.0, float("inf"))
    report = _run(threads, bar, start, results, errors, window, rate=rate, clients=clients)
    report.update(per_second=round(len(results) / duration, 1), seconds=duration)
    return report


def drain(timeout: float = 120.0, url: str | None = None) -> float:
    """Wait until the workers have emptied their queues (a saturated phase leaves the letters
    behind, which are off the critical path), so that one phase does not slow the next.
    Returns the seconds waited."""
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(url or settings.CELERY_BROKER_URL)
    queues = list(settings.DOMAIN_QUEUES)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        pipe = broker.pipeline()
        for name in queues:
            pipe.llen(name)
        pipe.hlen("unacked")
        if not any(pipe.execute()):
            break
        time.sleep(0.2)
    return round(time.monotonic() - start, 1)


def saga_route() -> list[list[str]]:
    """The queues of the consumers of each event of the order saga's path, as the catalog says:
    today orders, then billing, orders, and the gateway with notifications."""
    from contracts.catalog import ORDER_SAGA

    return [list(event.consumers) for event in ORDER_SAGA]


def chain_step_factory(clients: int, bare_url: str | None = None):
    """One no-op chain along the saga's route, then a reply, as the gateway wakes a request:
    through the project's workers, or with ``bare_url`` through the bare reference's."""
    import redis
    from django.conf import settings

    # A connection per waiting client: redis-py's pool refuses a 101st (it raises at once, and
    # a client that failed sends its next chain at once).
    pool = {"max_connections": clients + 10}
    if bare_url is None:
        from gateway_django.celery import app

        task = "bench.echo"
        replies = redis.Redis.from_url(settings.REPLY_REDIS_URL, **pool)
    else:
        from bench.bare import app

        app.conf.update(broker_read_url=bare_url, broker_write_url=bare_url)
        task, replies = "bare.echo", redis.Redis.from_url(bare_url, **pool)
    (first,), *route = saga_route()

    def step(timeout: float = 30) -> tuple[float, str]:
        key = f"bench:{uuid.uuid4().hex}"
        sent = time.monotonic()
        app.send_task(task, args=(route, key, time.time()), queue=first)
        # Short waits: redis-py's socket timeout (5 s by default) would cut a longer one.
        deadline = sent + timeout
        while replies.blpop([key], timeout=1) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("chain lost")
        return time.monotonic() - sent, "echoed"

    return step


def saga_step_factory(url: str, tokens: list[str], clients: int):
    """One order, timed from POST /order/ to its final status.

    The load generator shares the machine with the stack, so it is kept light: one urllib3 pool
    for all client threads, made before the clock starts (an httpx client per thread cost a
    fifth of a core, most of it building each client's TLS context at the start of a phase).
    """
    import urllib3

    # Orders carry an Idempotency-Key, so a request whose connection broke is sent again
    # safely, as a careful client would; a retry is not an error, a second failure is.
    retries = urllib3.Retry(total=1, allowed_methods=None, status=0, raise_on_status=False)
    http = urllib3.PoolManager(
        maxsize=clients + 10, timeout=urllib3.Timeout(total=30), retries=retries
    )
    local = threading.local()

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {local.token}"}
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = http.request(method, url + path, json=body, headers=headers)
        return response.status, response.json()

    def step() -> tuple[float, str]:
        if not hasattr(local, "token"):
            local.token = random.choice(tokens)
        price = f"{random.randint(100, 1500) / 100:.2f}"
        sent = time.monotonic()
        code, order = call("POST", "/order/", {"price": price, "description": "bench"})
        if code not in (201, 202):
            raise RuntimeError(f"HTTP {code}")
        status = order.get("status")
        while status not in TERMINAL:  # 202: the saga is still running; read the order
            time.sleep(0.05)
            status = call("GET", f"/order/{order['id']}/")[1]["status"]
            if time.monotonic() - sent > 60:
                raise TimeoutError("saga not finished after 60 s")
        return time.monotonic() - sent, status

    return step


def unloaded(step, count: int) -> dict:
    latencies = []
    for _ in range(count):
        latency, _ = step()
        latencies.append(latency)
    return summary(latencies, sum(latencies), count)


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, data in (
        ("bare Celery chain", result["bare"]),
        ("pipeline's no-op chain", result["ceiling"]),
        ("saga", result["saga"]),
        (f"saga at a steady {result['steady']['rate']}/s", result["steady"]),
    ):
        left.plot(data["per_second_series"], label=name)
        right.hist(data["latencies_ms"], bins=60, alpha=0.6, label=name)
    left.set(title="completed per second", xlabel="second", ylabel="completed")
    right.set(title="latency (ms)", xlabel="ms", ylabel="count", yscale="log")
    left.legend()
    right.legend()
    fig.suptitle(
        f"{result['clients']} clients, {result['duration']} s, "
        f"{result['worker_concurrency']} {result['pool']} process(es) per domain; bare: "
        f"{result['bare_concurrency']} {result['bare_pool']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# What --telemetry compares, each on a stack of its own; the endpoint is filled in at the start.
CHART_TRACING = "metrics+tracing 12/min"
TELEMETRY = {
    "off": {"METRICS_ENABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    "metrics": {"METRICS_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    "metrics+tracing": {"METRICS_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": None},
    # The chart's production default: every order traced, whole, until a process has started 12
    # traces in a minute; then 12 a minute (kernel/telemetry/tracing.Budget).
    CHART_TRACING: {
        "METRICS_ENABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": None,
        "OTEL_TRACES_SAMPLER_ARG": "1",
        "TRACES_PER_MINUTE": "12",
    },
}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def paired(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments of a second stack beside the first: its own port, database and Redis
    databases."""
    return argparse.Namespace(
        **{
            **vars(args),
            "port": args.port + 20,
            "database": f"{args.database}_paired",
            "redis_dbs": args.paired_redis_dbs,
        }
    )


def drive_together(args: argparse.Namespace, steps: dict, stacks: dict) -> dict[str, dict]:
    """``drive`` each of ``steps`` (by name) with --clients clients, all at the same time; with
    the CPU time each one's stack used a saga in the measured window."""
    results: dict[str, dict] = {}

    def load(name: str) -> None:
        results[name] = drive(name, args.clients, args.duration, steps[name], False, args.warmup)

    threads = [threading.Thread(target=load, args=(name,)) for name in steps]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, started + args.warmup - time.monotonic()))
    before = {name: stack.cpu_seconds() for name, stack in stacks.items()}
    time.sleep(max(0.0, started + args.warmup + args.duration - time.monotonic()))
    after = {name: stack.cpu_seconds() for name, stack in stacks.items()}
    for thread in threads:
        thread.join()
    for name in stacks:
        done = results[name]["completed"] or 1
        by_role = {
            role: round(1000 * (seconds - before[name].get(role, 0.0)) / done, 2)
            for role, seconds in sorted(after[name].items())
        }
        results[name]["cpu_ms_per_saga"] = round(sum(by_role.values()), 2)
        results[name]["cpu_ms_per_saga_by_role"] = by_role
    return results


def telemetry_cost(args: argparse.Namespace) -> None:
    """The saga's throughput and unloaded latency with each telemetry setting against telemetry
    off, the two on stacks of their own running at the same time on the same machine, driven
    alike: a drift of the machine's speed (two shared cores) falls on both, and the ratio of
    their throughputs is the setting's cost. The two sides swap stacks from round to round."""
    import httpx

    off, *measured = TELEMETRY
    settings = dict(TELEMETRY)
    if args.settings:
        measured = []
        for item in args.settings.split(","):
            name, _, env = item.strip().partition(":")
            if env:
                settings[name] = {
                    **TELEMETRY[off],
                    **{
                        key: None if value == "sink" else value
                        for key, value in (pair.split("=", 1) for pair in env.split("+"))
                    },
                }
            elif name not in TELEMETRY or name == off:
                known = ", ".join(list(TELEMETRY)[1:])
                raise SystemExit(f"bench: no setting {name!r} (known: {known})")
            measured.append(name)
    # Which settings keep traces (their endpoint the sink, a share above none): they must send
    # some. Read now, so that a share that is not a number stops the run before it starts.
    try:
        keeping = [
            name
            for name in measured
            if settings[name].get("OTEL_EXPORTER_OTLP_ENDPOINT", "") is None
            and float(settings[name].get("OTEL_TRACES_SAMPLER_ARG") or 1) > 0
        ]
    except ValueError as error:
        raise SystemExit(f"bench: OTEL_TRACES_SAMPLER_ARG is a share, 0 to 1: {error}") from None
    sink_port = free_port()
    sink_url = f"http://127.0.0.1:{sink_port}"
    sink = subprocess.Popen([sys.executable, "-m", "bench.otlp_sink", str(sink_port)], cwd=ROOT)
    runs: dict[str, list[dict]] = {name: [] for name in measured}
    exported = {"exports": 0, "bytes": 0}
    first = True
    try:
        for round_ in range(1, args.rounds + 1):
            for name in measured:
                sides = [off, name] if round_ % 2 else [name, off]
                stacks = [Stack(args), Stack(paired(args))]
                print(f"bench: round {round_} of {args.rounds}: {sides[0]} beside {sides[1]}")
                try:
                    for stack, side in zip(stacks, sides, strict=True):
                        stack.env.update(
                            {k: sink_url if v is None else v for k, v in settings[side].items()}
                        )
                        stack.start(bare=False)
                    if first:
                        setup_django(stacks[0].env)
                        first = False
                    before = httpx.get(sink_url).json()
                    sagas = {}
                    for stack, side in zip(stacks, sides, strict=True):
                        tokens = make_users(stack.url, args.users, args.funds)
                        sagas[side] = saga_step_factory(stack.url, tokens, args.clients)
                        for _ in range(20):  # warm up connections and workers
                            sagas[side]()
                    # One at a time, the other stack idle; then both loaded at once.
                    quiet = {side: unloaded(sagas[side], args.unloaded) for side in sides}
                    results = drive_together(args, sagas, dict(zip(sides, stacks, strict=True)))
                    after = httpx.get(sink_url).json()
                finally:
                    for stack in stacks:
                        stack.stop()
                    from django.db import connections

                    connections.close_all()  # the next stack makes the database anew
                sent = {k: after[k] - before[k] for k in exported}
                exported = {k: exported[k] + sent[k] for k in exported}
                runs[name].append(
                    {
                        "per_second": results[name]["per_second"],
                        "off_per_second": results[off]["per_second"],
                        "cost": round(
                            1 - results[name]["per_second"] / results[off]["per_second"], 3
                        ),
                        "cpu_ms_per_saga": results[name]["cpu_ms_per_saga"],
                        "off_cpu_ms_per_saga": results[off]["cpu_ms_per_saga"],
                        "cpu_ms_per_saga_by_role": results[name]["cpu_ms_per_saga_by_role"],
                        "off_cpu_ms_per_saga_by_role": results[off]["cpu_ms_per_saga_by_role"],
                        "p99_ms": results[name]["p99_ms"],
                        "unloaded_p50_ms": quiet[name]["p50_ms"],
                        "off_unloaded_p50_ms": quiet[off]["p50_ms"],
                        "errors": sum(results[name]["errors"].values())
                        + sum(results[off]["errors"].values()),
                        "exported_bytes": sent["bytes"],
                    }
                )
                print(f"  {name} beside {off}: {runs[name][-1]}")
    finally:
        sink.terminate()

    costs = {
        name: {
            "per_second": round(statistics.fmean(run["per_second"] for run in runs[name]), 1),
            "off_per_second": round(
                statistics.fmean(run["off_per_second"] for run in runs[name]), 1
            ),
            "throughput_cost": round(statistics.fmean(run["cost"] for run in runs[name]), 3),
            "throughput_cost_per_round": [run["cost"] for run in runs[name]],
            # The CPU a saga costs, against off's at the same time: the same cost seen from
            # the work done rather than from the share of the cores each stack won.
            "cpu_cost": round(
                statistics.fmean(
                    run["cpu_ms_per_saga"] / run["off_cpu_ms_per_saga"] - 1 for run in runs[name]
                ),
                3,
            ),
            "cpu_ms_per_saga": round(
                statistics.fmean(run["cpu_ms_per_saga"] for run in runs[name]), 1
            ),
            "off_cpu_ms_per_saga": round(
                statistics.fmean(run["off_cpu_ms_per_saga"] for run in runs[name]), 1
            ),
            "unloaded_p50_ms": round(
                statistics.fmean(run["unloaded_p50_ms"] for run in runs[name]), 1
            ),
            "off_unloaded_p50_ms": round(
                statistics.fmean(run["off_unloaded_p50_ms"] for run in runs[name]), 1
            ),
        }
        for name in measured
    }
    result = {
        "clients": args.clients,
        "duration": args.duration,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "worker_concurrency": args.worker_concurrency,
        "cpus": os.cpu_count(),
        "settings": {name: settings[name] for name in measured},
        "runs": runs,
        "costs": costs,
        "exported": exported,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"telemetry-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(
        f"\nsaga with {args.clients} clients, {args.rounds} round(s), each setting on a stack "
        "of its own beside telemetry off on another, at the same time:"
    )
    for name, cost in costs.items():
        print(
            f"  {name:<20} {cost['per_second']:>6}/s against {cost['off_per_second']}/s off   "
            f"unloaded p50 {cost['unloaded_p50_ms']} against {cost['off_unloaded_p50_ms']} ms   "
            f"throughput cost {cost['throughput_cost']:.1%} "
            f"(per round {cost['throughput_cost_per_round']})   CPU a saga "
            f"{cost['cpu_ms_per_saga']} against {cost['off_cpu_ms_per_saga']} ms "
            f"({cost['cpu_cost']:+.1%})"
        )
    print(f"  spans exported: {exported['bytes'] / 1e6:.1f} MB in {exported['exports']} requests")
    errors = sum(run["errors"] for name in runs for run in runs[name])
    exports = exported["exports"]
    targets = [(f"errors {errors}", errors == 0, "0")]
    if "metrics" in costs:
        cost = costs["metrics"]["throughput_cost"]
        targets.append((f"metrics cost {cost:.1%} of saga throughput", cost < 0.05, "< 5 %"))
    if CHART_TRACING in costs:
        cost = costs[CHART_TRACING]["throughput_cost"]
        targets.append(
            (
                f"metrics and tracing as the chart sets them (12 traces a minute a process) cost "
                f"{cost:.1%} of saga throughput",
                cost < 0.05,
                "< 5 %",
            )
        )
    if keeping:
        targets.append((f"spans reached the collector ({exports} exports)", exports > 0, "> 0"))
    print("targets:")
    for text, ok, target in targets:
        print(f"  {'met    ' if ok else 'NOT met'}  {text} (target {target})")
    # Every order traced is a setting for finding one fault, not for running: its price is
    # stated, with no target (docs/performance.md).
    if "metrics+tracing" in costs:
        every = costs["metrics+tracing"]["throughput_cost"]
        print(f"  (every order traced: {every:.1%} of saga throughput; no target)")
    print(f"results: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds the closed-loop phases run before they are measured",
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--funds", default="1000.00", help="deposit per user")
    parser.add_argument(
        "--worker-concurrency", type=int, default=2, help="processes per domain worker"
    )
    parser.add_argument(
        "--pool",
        default=os.environ.get("WORKER_POOL", "prefork"),
        help="Celery pool of the domain workers (prefork, threads, solo)",
    )
    parser.add_argument(
        "--bare-pool",
        default="solo",
        help="Celery pool of the bare reference's workers (one worker per queue)",
    )
    parser.add_argument("--bare-concurrency", type=int, default=1)
    parser.add_argument(
        "--bare-redis-db", type=int, default=9, help="the bare reference's Redis database: emptied"
    )
    parser.add_argument(
        "--load",
        type=float,
        default=0.7,
        help="the steady phase's arrival rate, as a fraction of the saga throughput measured",
    )
    parser.add_argument("--rate", type=float, help="the steady phase's arrival rate, per second")
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--database", default="order_platform_bench", help="dropped and made anew")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the Redis server")
    parser.add_argument(
        "--redis-dbs", default="6,7,8", help="broker, replies, cache: emptied at the start"
    )
    parser.add_argument(
        "--unloaded",
        type=int,
        default=50,
        help="sagas timed one at a time (and twice as many chains)",
    )
    parser.add_argument(
        "--task-events",
        action="store_true",
        help="workers send task events and Flower asks for them (off in production)",
    )
    parser.add_argument(
        "--telemetry",
        action="store_true",
        help="measure instead what metrics and tracing cost the saga (see above)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="rounds of --telemetry (even: each setting on both stacks equally often)",
    )
    parser.add_argument(
        "--settings",
        help="--telemetry's settings to run, comma-separated: names of its own or "
        '"name:KEY=VALUE+KEY=VALUE" (see above); all of its own unless given',
    )
    parser.add_argument(
        "--paired-redis-dbs",
        default="10,11,12",
        help="--telemetry's second stack: broker, replies, cache (emptied), on --port + 20",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if args.telemetry:
        telemetry_cost(args)
        return

    stack = Stack(args)
    print(
        f"bench: starting a stack on {stack.url} ({args.worker_concurrency} {args.pool} "
        f"process(es) per domain, task events {'on' if args.task_events else 'off'}; "
        f"bare Celery: {args.bare_concurrency} {args.bare_pool})"
    )
    try:
        stack.start()
        setup_django(stack.env)
        from tests.invariants import saga_report

        chain = chain_step_factory(args.clients)
        bare_chain = chain_step_factory(args.clients, stack.bare.url)
        # The first chains wait for the workers to start (on a busy machine, a while).
        chain(timeout=300)
        bare_chain(timeout=300)
        for _ in range(20):  # warm up connections and workers
            chain()
            bare_chain()
        tokens = make_users(stack.url, args.users, args.funds)
        saga = saga_step_factory(stack.url, tokens, args.clients)
        print("bench: unloaded latency")
        quiet = {
            "bare": unloaded(bare_chain, 2 * args.unloaded),
            "ceiling": unloaded(chain, 2 * args.unloaded),
            "saga": unloaded(saga, args.unloaded),
        }
        print(f"bench: bare Celery under load ({args.clients} chains in flight)")
        bare = drive(
            "bare", args.clients, args.duration, bare_chain, not args.no_progress, args.warmup
        )
        print(f"bench: queues drained in {drain(url=stack.bare.url)} s")
        print(f"bench: ceiling under load ({args.clients} chains in flight)")
        ceiling = drive(
            "ceiling", args.clients, args.duration, chain, not args.no_progress, args.warmup
        )
        print(f"bench: queues drained in {drain()} s")
        print(f"bench: saga under load ({args.clients} clients)")
        sagas = drive("saga", args.clients, args.duration, saga, not args.no_progress, args.warmup)
        print(f"bench: queues drained in {drain()} s")
        rate = args.rate or round(args.load * sagas["per_second"], 1)
        print(f"bench: saga under a steady {rate} orders/s (open loop, Poisson arrivals)")
        steady = drive_open("steady", rate, args.duration, args.clients, saga, not args.no_progress)
        print("bench: checking the invariants")
        invariants = saga_report("bench")
    finally:
        stack.stop()

    result = {
        "clients": args.clients,
        "duration": args.duration,
        "warmup": args.warmup,
        "users": args.users,
        "worker_concurrency": args.worker_concurrency,
        "pool": args.pool,
        "task_events": args.task_events,
        "bare_pool": args.bare_pool,
        "bare_concurrency": args.bare_concurrency,
        "cpus": os.cpu_count(),
        "unloaded": quiet,
        "bare": bare,
        "ceiling": ceiling,
        "saga": sagas,
        "steady": steady,
        "ratios": {
            "throughput_saga_over_ceiling": round(sagas["per_second"] / ceiling["per_second"], 3),
            "throughput_saga_over_bare": round(sagas["per_second"] / bare["per_second"], 3),
            "throughput_ceiling_over_bare": round(ceiling["per_second"] / bare["per_second"], 3),
            "unloaded_p50_saga_over_ceiling": round(
                quiet["saga"]["p50_ms"] / quiet["ceiling"]["p50_ms"], 2
            ),
            "unloaded_p50_saga_over_bare": round(
                quiet["saga"]["p50_ms"] / quiet["bare"]["p50_ms"], 2
            ),
        },
        # The deliveries one after another on a saga's critical path: each hop of the route
        # (orders, billing, orders, gateway); the letter to notifications runs beside the last.
        "hops": HOPS,
        "unloaded_p50_per_hop_ms": {
            name: round(quiet[name]["p50_ms"] / HOPS, 2) for name in ("bare", "ceiling")
        },
        "invariants": invariants,
    }
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2))
    try:
        chart(result, out / f"bench-{stamp}.png")
    except ImportError:  # the bench extra (make bench installs it) brings matplotlib
        print("bench: no chart without matplotlib (pip install -e '.[bench]')")

    def line(name: str, data: dict) -> str:
        return (
            f"  {name:<8} {data['per_second']:>7}/s   p50 {data['p50_ms']:>7} ms   "
            f"p95 {data['p95_ms']:>7} ms   p99 {data['p99_ms']:>7} ms   "
            f"max {data['max_ms']:>7} ms   errors {sum(data['errors'].values())}"
        )

    hop = result["unloaded_p50_per_hop_ms"]
    print(
        f"\nunloaded p50: bare {quiet['bare']['p50_ms']} ms, ceiling "
        f"{quiet['ceiling']['p50_ms']} ms, saga {quiet['saga']['p50_ms']} ms; per hop ({HOPS} "
        f"on the critical path): bare {hop['bare']} ms, pipeline {hop['ceiling']} ms "
        f"(plain Redis lists, no Celery: {PLAIN_REDIS_HOP_MS} ms)"
    )
    print(
        f"under load ({args.clients} clients, {args.duration:.0f} s "
        f"after {args.warmup:.0f} s of warm-up):"
    )
    print(line("bare", bare))
    print(line("ceiling", ceiling))
    print(line("saga", sagas))
    print(f"  outcomes {sagas['outcomes']}")
    print(f"under a steady {rate} orders/s ({args.load:.0%} of the saga throughput unless --rate):")
    print(line("steady", steady))
    ratios = result["ratios"]
    ratio = ratios["throughput_saga_over_ceiling"]
    p50_ratio = ratios["unloaded_p50_saga_over_ceiling"]
    errors = sum(sum(d["errors"].values()) for d in (bare, ceiling, sagas, steady))
    checks = [
        (
            f"pipeline / bare throughput {ratios['throughput_ceiling_over_bare']:.0%}",
            ratios["throughput_ceiling_over_bare"] >= 0.80,
            ">= 80 %",
        ),
        (
            f"saga / bare throughput {ratios['throughput_saga_over_bare']:.0%}",
            ratios["throughput_saga_over_bare"] >= 0.35,
            ">= 35 %",
        ),
        (
            f"unloaded p50 saga / bare {ratios['unloaded_p50_saga_over_bare']}x",
            ratios["unloaded_p50_saga_over_bare"] <= 2,
            "<= 2x",
        ),
        (
            f"p99 at a steady {rate}/s: {steady['p99_ms']} ms",
            steady["p99_ms"] <= 500,
            "<= 500 ms",
        ),
        (f"saga / ceiling throughput {ratio:.0%}", ratio >= 0.40, ">= 40 %"),
        (f"unloaded p50 saga / ceiling {p50_ratio}x", p50_ratio < 5, "< 5x"),
        (f"p99 at a steady {rate}/s under 1 s", steady["p99_ms"] < 1000, "< 1 s"),
        (f"errors {errors}", errors == 0, "0"),
        (f"sagas lost {invariants['lost']}", invariants["lost"] == 0, "0, invariants hold"),
    ]
    print("targets:")
    for text, ok, target in checks:
        print(f"  {'met    ' if ok else 'NOT met'}  {text} (target {target})")
    print(f"results: {out / f'bench-{stamp}.json'} and .png")


if __name__ == "__main__":
    main()
