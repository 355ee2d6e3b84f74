"""Versions as TF Serving does them: latest by default, policies, hot reload under load
without a failed request, corrupt or half-written versions refused while serving goes on."""

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from fashion_pubsub.serving.app import build_app
from fashion_pubsub.serving.model_config import VersionPolicy
from tests.support.serving import (
    MODEL,
    export_version,
    running_app,
    serve_in_thread,
    server_settings,
)

INFER = f"/v2/models/{MODEL}/infer"
BODY = {
    "inputs": [{"name": "images", "shape": [1, 28, 28], "datatype": "UINT8", "data": [7] * 784}]
}


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
def test_hot_reload_under_load_serves_version_2_within_2s_without_a_failure(
    model_base: Path,
) -> None:
    failures: list[str] = []
    versions_seen: list[tuple[float, str]] = []
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            while not stop.is_set():
                try:
                    response = client.post(INFER, json=BODY)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                else:
                    versions_seen.append((time.monotonic(), response.json()["model_version"]))

    with serve_in_thread(server_settings(model_base)) as url:
        workers = [threading.Thread(target=load, args=(url,)) for _ in range(2)]
        for worker in workers:
            worker.start()
        try:
            assert _wait_for(lambda: len(versions_seen) > 50, 10)
            exported = time.monotonic()
            export_version(model_base, 2)
            assert _wait_for(lambda: versions_seen[-1][1] == "2", 2.0), "v2 not served in 2 s"
            switched = next(t for t, v in versions_seen if v == "2")
            time.sleep(0.5)  # keep the load on after the swap
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        status = httpx.get(f"{url}/v1/models/{MODEL}").json()
    assert failures == []
    assert switched - exported < 2.0
    after = [v for t, v in versions_seen if t > switched + 0.1]
    assert after and set(after) == {"2"}  # the old version was unloaded
    assert [s["version"] for s in status["model_version_status"]] == ["2"]


@pytest.mark.anyio
@pytest.mark.parametrize("damage", ["garbage_onnx", "missing_onnx", "bad_metadata"])
async def test_corrupt_version_is_refused_and_serving_goes_on(
    model_base: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(build_app(server_settings(model_base))) as client:
        broken = model_base / "2"
        broken.mkdir()
        if damage == "garbage_onnx":
            (broken / "model.onnx").write_bytes(b"\x00not an onnx model")
        elif damage == "bad_metadata":
            export_version(model_base, 3)
            (model_base / "3" / "metadata.json").write_text("{half written")
            broken = model_base / "3"
        await _sleep(0.5)
        response = await client.post(INFER, json=BODY)
        assert response.status_code == 200
        assert response.json()["model_version"] == "1"
        statuses = (await client.get(f"/v1/models/{MODEL}")).json()["model_version_status"]
        refused = [s for s in statuses if s["state"] == "END"]
        assert refused and refused[0]["version"] == broken.name
        assert refused[0]["status"]["error_message"]
    assert any("version_refused" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_a_refused_version_is_retried_once_its_folder_is_fixed(model_base: Path) -> None:
    async with running_app(build_app(server_settings(model_base))) as client:
        (model_base / "2").mkdir()
        await _sleep(0.4)
        fixed = export_version(model_base / "staging", 2)
        (fixed / "model.onnx").rename(model_base / "2" / "model.onnx")
        await _sleep(0.5)
        response = await client.post(INFER, json=BODY)
        assert response.json()["model_version"] == "2"


@pytest.mark.anyio
async def test_non_digit_folders_are_not_versions(model_base: Path) -> None:
    export_version(model_base, 5)
    (model_base / "5").rename(model_base / ".tmp-5-abc")
    async with running_app(build_app(server_settings(model_base))) as client:
        body = (await client.get(f"/v2/models/{MODEL}")).json()
        assert body["versions"] == ["1"]


@pytest.mark.anyio
async def test_model_without_metadata_json_takes_its_signature_from_onnx(tmp_path: Path) -> None:
    base = tmp_path / "m"
    export_version(base, 1, metadata=False)
    async with running_app(build_app(server_settings(base))) as client:
        body = (await client.get(f"/v2/models/{MODEL}")).json()
        assert body["inputs"][0]["shape"] == [-1, 28, 28, 1]
        response = await client.post(INFER, json=BODY)
        assert response.status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("policy", "served"),
    [
        ("latest", ["3"]),
        ("latest:2", ["2", "3"]),
        ("all", ["1", "2", "3"]),
        ("specific:1,3", ["1", "3"]),
    ],
)
async def test_version_policies(tmp_path: Path, policy: str, served: list[str]) -> None:
    base = tmp_path / "m"
    for version in (1, 2, 3):
        export_version(base, version)
    settings = server_settings(base, model_version_policy=policy)
    async with running_app(build_app(settings)) as client:
        body = (await client.get(f"/v2/models/{MODEL}")).json()
        assert body["versions"] == served
        for version in served:
            response = await client.post(f"/v2/models/{MODEL}/versions/{version}/infer", json=BODY)
            assert response.json()["model_version"] == version


def test_policy_flag_errors_say_what_is_accepted() -> None:
    with pytest.raises(Exception, match="latest, latest:N, all or specific"):
        VersionPolicy.parse("newest")


@pytest.mark.anyio
async def test_several_models_from_a_json_model_config_file(tmp_path: Path) -> None:
    export_version(tmp_path / "a", 1)
    export_version(tmp_path / "b", 4)
    config = tmp_path / "models.json"
    config.write_text(
        '{"model_config_list": {"config": ['
        '{"name": "alpha", "base_path": "a"},'
        '{"name": "beta", "base_path": "b", "version_labels": {"stable": 4}}]}}'
    )
    settings = server_settings(tmp_path / "unused", model_config_file=config)
    async with running_app(build_app(settings)) as client:
        assert (await client.get("/v2/models/alpha")).json()["versions"] == ["1"]
        assert (await client.get("/v2/models/beta")).json()["versions"] == ["4"]
        status = await client.get("/v1/models/beta/labels/stable")
        assert status.json()["model_version_status"][0]["version"] == "4"
        images = np.zeros((1, 28, 28, 1)).tolist()
        response = await client.post("/v1/models/alpha:predict", json={"instances": images})
        assert response.status_code == 200


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)
