"""The file codec and the fitted-state schema, and files of earlier versions."""

import io
import json
import os
import stat
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from conftest import ESTIMATORS, FAST
from packaging.version import Version

import skdnn
from skdnn import DNNClassifier, DNNRegressor
from skdnn._persistence import (
    FITTED_STATE,
    OPTIONAL_STATE,
    backend_neutral_config,
    from_json_value,
    to_json_value,
)
from skdnn._training.backends.torch import TorchBackend

DATA = Path(__file__).parent / "data"


def _keras_config(optimizer):
    return {"config": {}, "compile_config": {"optimizer": optimizer}}


def test_torch_keras_config_names_optimizers_by_their_public_class():
    # What Keras writes for an SGD on PyTorch: its backend class's module.
    torch_sgd = {
        "module": "keras.src.backend.torch.optimizers.torch_sgd",
        "class_name": "SGD",
        "registered_name": "SGD",
        "config": {"momentum": 0.9},
    }
    config = _keras_config(torch_sgd)
    assert TorchBackend().neutral_keras_config(config)
    assert config["compile_config"]["optimizer"] == {
        "module": "keras.optimizers",
        "class_name": "SGD",
        "registered_name": None,
        "config": {"momentum": 0.9},
    }
    # Public classes, a user's own and models compiled without an optimizer
    # are left as they are.
    public = {"module": "keras.optimizers", "class_name": "Adam", "registered_name": None}
    own = {"module": "my_optimizers", "class_name": "SGD", "registered_name": "my>SGD"}
    no_compile = {"config": {}, "compile_config": None}
    for config in [*(_keras_config(o) for o in (public, own, "sgd", None)), no_compile]:
        before = json.dumps(config)
        assert not TorchBackend().neutral_keras_config(config)
        assert json.dumps(config) == before


def test_backend_neutral_config_keeps_the_bytes_that_need_no_change():
    public = {"module": "keras.optimizers", "class_name": "Adam", "registered_name": None}
    data = json.dumps(_keras_config(public)).encode()
    assert backend_neutral_config(data) is data


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        2.5,
        "text",
        [1, [2, "x"]],
        (1, (2.0, None)),
        {"a": (1, 2), 3: [None]},
        {"loss": [0.5, 0.25], "val_loss": []},
    ],
)
def test_json_codec_round_trips_plain_values(value):
    assert from_json_value(to_json_value(value)) == value


@pytest.mark.parametrize(
    "array",
    [
        np.array(["a", "b"]),
        np.arange(3, dtype=np.int32),
        np.array([[0.5, 1.0]]),
        np.array([True, False]),
        np.array([1, "x"], dtype=object),
    ],
)
def test_json_codec_round_trips_arrays(array):
    decoded = from_json_value(to_json_value(array))
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


def test_json_codec_refuses_what_it_cannot_save():
    with pytest.raises(TypeError, match="cannot be saved"):
        to_json_value(object())
    with pytest.raises(ValueError, match="unknown entry"):
        from_json_value({"__pickle__": "..."})


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_schema_covers_every_fitted_attribute(Estimator, data_for):
    """A new fitted attribute must be declared in the schema (or be model_,
    callbacks_ or an encoder) or it would be lost on save and pickle."""
    est = Estimator(**FAST).fit(*data_for(Estimator))
    fitted = {name for name in vars(est) if name.endswith("_") or name.startswith("_")}
    declared = {
        *FITTED_STATE[Estimator.__name__],
        *OPTIONAL_STATE,
        "model_",
        "callbacks_",
        "_target_encoder",
        "_feature_encoder",
    }
    assert fitted - declared == set()
    assert set(FITTED_STATE[Estimator.__name__]) <= fitted


def _keras_version_of(path):
    """The version of Keras that wrote the network inside a skdnn file."""
    with zipfile.ZipFile(path) as outer:
        with zipfile.ZipFile(io.BytesIO(outer.read("model.keras"))) as network:
            return json.loads(network.read("metadata.json"))["keras_version"]


@pytest.mark.parametrize(
    "name, Estimator", [("classifier", DNNClassifier), ("regressor", DNNRegressor)]
)
def test_files_of_skdnn_0_1_0_still_load(name, Estimator):
    """Files written by skdnn 0.1.0 (format 1) load and predict as they did."""
    path = DATA / f"{name}-0.1.0.skdnn"
    written_by = _keras_version_of(path)
    if Version(version("keras")) < Version(written_by):
        pytest.skip(f"written by Keras {written_by}: an older Keras cannot read its network")
    expected = np.load(DATA / "predictions-0.1.0.npz")
    est = skdnn.load(path)
    assert isinstance(est, Estimator) and est.n_iter_ == 2
    X = expected["X"]
    if name == "classifier":
        np.testing.assert_array_equal(est.predict(X), expected["pred"])
        np.testing.assert_allclose(est.predict_proba(X), expected["proba"], rtol=1e-6)
    else:
        assert est.output_activation == "relu"
        np.testing.assert_allclose(est.predict(X), expected["reg"], rtol=1e-5)
    # They continue training like any fitted estimator.
    est.set_params(warm_start=True, epochs=1)
    y = expected["pred"] if name == "classifier" else expected["reg"]
    assert est.fit(X, y).n_iter_ == 3


def test_save_keeps_the_mode_of_a_replaced_file(classification_data, tmp_path):
    est = DNNClassifier(**FAST).fit(*classification_data)
    path = tmp_path / "model.skdnn"
    est.save(path)
    os.chmod(path, 0o640)
    est.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.listdir(tmp_path) == ["model.skdnn"]
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["model.keras", "skdnn.json"]


def test_load_of_a_newer_format_names_the_versions(classification_data, tmp_path):
    import json

    est = DNNClassifier(**FAST).fit(*classification_data)
    path = tmp_path / "model.skdnn"
    est.save(path)
    newer = tmp_path / "newer.skdnn"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(newer, "w") as target:
        config = json.loads(source.read("skdnn.json"))
        config.update(format_version=99, skdnn_version="9.0")
        target.writestr("skdnn.json", json.dumps(config))
        target.writestr("model.keras", source.read("model.keras"))
    with pytest.raises(
        ValueError,
        match=r"made by another version of skdnn \(9.0, file format "
        r"99\).*Upgrade skdnn",
    ):
        skdnn.load(newer)


def test_no_module_imports_one_that_imports_it_back():
    """skdnn's modules form an acyclic graph, function-level imports included."""
    import ast

    package = Path(skdnn.__file__).parent
    graph = {}
    for path in package.glob("*.py"):
        name = path.stem
        imports = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    imports.add(node.module)
                else:
                    imports.update(alias.name for alias in node.names)
        graph[name] = imports & {p.stem for p in package.glob("*.py")}

    def visit(name, trail):
        assert name not in trail, f"import cycle: {' -> '.join([*trail, name])}"
        for imported in graph[name]:
            visit(imported, [*trail, name])

    for name in graph:
        if name != "__init__":
            visit(name, [])
    # Only the package itself imports the package.
    assert all("__init__" not in imports for imports in graph.values())
