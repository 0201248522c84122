"""Every object every chart renders, with default and non-default values, against Kubernetes' own OpenAPI schemas
(kubernetes-validate, strict: an unknown field is an error), for the version the cluster runs."""
import kubernetes_validate
import pytest
from conftest import render
from test_charts import CASES

KUBERNETES_VERSION = "1.30.0"


@pytest.mark.parametrize(("chart", "args"), CASES)
def test_rendered_objects_match_the_kubernetes_schemas(chart, args):
    checked = 0
    for obj in render(chart, *args):
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert obj["apiVersion"].startswith("monitoring.coreos.com/"), obj["kind"]  # CRDs: no built-in schema
            continue
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")
        checked += 1
    assert checked
