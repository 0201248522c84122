"""The platform's one list of services (services.toml, read through fleet) agrees with what each service is."""

import re

import pytest
from conftest import HELM_DIR, ROOT

import fleet

LISTED = fleet.load()


def test_names_prefixes_ports_and_databases_are_unique():
    for key in ("name", "prefix", "port", "database"):
        values = [getattr(service, key) for service in LISTED]
        assert len(values) == len(set(values)), f"two services share a {key}"


@pytest.mark.parametrize("service", LISTED, ids=lambda s: s.name)
def test_each_listed_service_has_its_folder_chart_and_database(service: fleet.Service):
    assert (service.folder / "pyproject.toml").exists() and (service.folder / "Dockerfile").exists()
    assert (HELM_DIR / service.service_name / "Chart.yaml").exists()
    settings = (service.folder / "config" / "settings" / "base.py").read_text()
    assert re.search(rf'database_from_env\(name="{service.database}"', settings)


def test_every_service_folder_is_listed():
    folders = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert folders == {service.service_name for service in LISTED}
