"""Domains meet only through events: no domain app imports another, the catalog and the
handlers agree, and the contract itself is shown to catch a violation."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from contracts.domains import DOMAINS
from kernel.messaging.events import CATALOG
from kernel.messaging.inbox import registered

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["kernel", "contracts", *DOMAINS, "gateway_django"]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--config",
            str(root / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": ""},
    )


def test_no_domain_imports_another():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contract_fails_when_one_domain_imports_another(tmp_path):
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    services = tmp_path / "users" / "services.py"
    services.write_text("from billing.models import Account  # a shortcut\n" + services.read_text())

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "users" in result.stdout and "billing" in result.stdout


def test_the_import_contracts_name_every_domain_and_only_those():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {contract["name"]: contract for contract in config["contracts"]}
    assert set(config["root_packages"]) == set(PACKAGES)
    independent = contracts["Domains never import each other: they meet only through events"]
    assert independent["modules"] == list(DOMAINS)
    for name in (
        "The kernel knows no domain and no contract",
        "The contracts name domains but import none",
    ):
        assert set(DOMAINS) <= set(contracts[name]["forbidden_modules"])


def test_the_messaging_kernel_names_no_domain():
    """Not even as a string: routing and handlers come from the registries the contracts and
    the domains fill."""
    for path in (ROOT / "kernel").rglob("*.py"):
        if "migrations" in path.parts or "tests" in path.parts:
            continue
        text = path.read_text()
        for domain in DOMAINS:
            assert f'"{domain}"' not in text, f"{path.relative_to(ROOT)} names {domain}"


def test_every_consumer_in_the_catalog_has_a_handler_and_no_handler_is_unlisted():
    handlers = set(registered())
    declared = {(consumer, name) for name, cls in CATALOG.items() for consumer in cls.consumers}
    assert handlers == declared
