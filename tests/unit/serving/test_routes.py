"""The router parses the URLs: odd paths are 404/405 with {"error": ...}, never a 500,
and metrics are labelled from the route's path parameters (bounded labels only)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from fashion_pubsub.serving.app import build_app
from fashion_pubsub.serving.runtime import OnnxModel
from tests.support.serving import (
    MODEL,
    export_version,
    running_app,
    server_settings,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    base = tmp_path / "m"
    export_version(base, 1)
    export_version(base, 2)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "m" '
        "model_version_policy { all {} } "
        'version_labels { key: "stable" value: 1 } }}'
    )
    settings = server_settings(base, model_config_file=config)
    async with running_app(build_app(settings)) as client:
        yield client


def _instances() -> dict[str, object]:
    return {"instances": np.zeros((1, 28, 28, 1), np.uint8).tolist()}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/models/{MODEL}/versions/\u00b2"),  # str.isdigit() says yes, int() no
        ("POST", f"/v1/models/{MODEL}/versions/\u00b2:predict"),
        ("GET", f"/v2/models/{MODEL}/versions/\u00b2"),
        ("GET", f"/v1/models/{MODEL}/versions/-1"),
        ("GET", f"/v1/models/{MODEL}/"),
        ("GET", f"/v1/models/{MODEL}/versions/1/labels/stable"),
        ("GET", f"/v1/models/{MODEL}/metadata/metadata"),
        ("GET", f"/v2/models/{MODEL}/versions/1/ready/infer"),
        ("GET", "/v2/models"),
        ("GET", "/nothing"),
    ],
)
async def test_odd_paths_are_404_with_an_error(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/models/{MODEL}/labels/stable:predict"),
        ("POST", f"/v1/models/{MODEL}:explain"),
        ("POST", f"/v1/models/{MODEL}/metadata"),
        ("PUT", f"/v2/models/{MODEL}/infer"),
        ("POST", "/v2/health/live"),
    ],
)
async def test_wrong_methods_and_verbs_are_4xx_with_an_error(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code in (404, 405), response.text
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("path", "version"),
    [
        (f"/v1/models/{MODEL}:predict", "2"),
        (f"/v1/models/{MODEL}/versions/1:predict", "1"),
        (f"/v1/models/{MODEL}/labels/stable:predict", "1"),
    ],
)
async def test_metrics_label_the_version_the_route_names(
    client: httpx.AsyncClient, path: str, version: str
) -> None:
    assert (await client.post(path, json=_instances())).status_code == 200
    text = (await client.get("/monitoring/prometheus/metrics")).text
    assert (
        f'fashion_serving_requests_total{{model="{MODEL}",protocol="tf_rest",'
        f'status="200",version="{version}"}} 1.0'
    ) in text


async def test_metric_labels_stay_bounded_whatever_the_url(client: httpx.AsyncClient) -> None:
    for index in range(5):
        await client.post(f"/v1/models/random{index}:predict", json=_instances())
        await client.post(f"/v1/models/{MODEL}/versions/{900 + index}:predict", json=_instances())
        await client.get(f"/v2/models/{MODEL}/versions/{900 + index}")
    text = (await client.get("/monitoring/prometheus/metrics")).text
    assert 'model="random' not in text and 'version="90' not in text
    assert (
        'fashion_serving_requests_total{model="_unknown",protocol="tf_rest",'
        'status="404",version=""} 5.0'
    ) in text
    assert (
        f'fashion_serving_requests_total{{model="{MODEL}",protocol="oip_rest",'
        'status="404",version=""} 5.0'
    ) in text


async def test_health_and_server_routes_are_not_counted(client: httpx.AsyncClient) -> None:
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/nothing"):
        await client.get(path)
    text = (await client.get("/monitoring/prometheus/metrics")).text
    assert "fashion_serving_requests_total{" not in text


async def test_an_unexpected_error_is_a_logged_500_and_the_server_goes_on(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: OnnxModel, inputs: object) -> object:
        raise RuntimeError("the runtime failed")

    monkeypatch.setattr(OnnxModel, "predict", broken)
    response = await client.post(f"/v1/models/{MODEL}:predict", json=_instances())
    assert response.status_code == 500
    assert "the runtime failed" in response.json()["error"]
    assert "request_failed" in caplog.text
    monkeypatch.undo()
    assert (await client.post(f"/v1/models/{MODEL}:predict", json=_instances())).status_code == 200
    text = (await client.get("/monitoring/prometheus/metrics")).text
    assert 'protocol="tf_rest",status="500",version="2"} 1.0' in text
