"""The platform's one list of services (services.toml) agrees with what each service is."""

import re
import tomllib

import pytest
from conftest import HELM_DIR, ROOT

LISTED = tomllib.loads((ROOT / "services.toml").read_text())["service"]


def test_names_prefixes_ports_and_databases_are_unique():
    for key in ("name", "prefix", "port", "database"):
        values = [service[key] for service in LISTED]
        assert len(values) == len(set(values)), f"two services share a {key}"


@pytest.mark.parametrize("service", LISTED, ids=lambda s: s["name"])
def test_each_listed_service_has_its_folder_chart_and_database(service):
    folder = ROOT / "services" / f"{service['name']}-service"
    assert (folder / "pyproject.toml").exists() and (folder / "Dockerfile").exists()
    assert (HELM_DIR / f"{service['name']}-service" / "Chart.yaml").exists()
    settings = (folder / "config" / "settings" / "base.py").read_text()
    assert re.search(rf'database_from_env\(name="{service["database"]}"', settings)


def test_every_service_folder_is_listed():
    folders = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert folders == {f"{service['name']}-service" for service in LISTED}
