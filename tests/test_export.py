"""``sparrow export``: the trained model out of a run directory as torch, ONNX and a C header.

Each test writes its own run directory (``model.json``, ``model_best.npy``,
``model_last.npy``) with :func:`save_model`, from random parameters, then
checks that every format computes what the host's PyTorch module computes
with those parameters.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sparrow.common.modelspec import LAYER_KINDS, Layer, ModelSpec, get_spec
from sparrow.host import export as ex
from sparrow.host.export_c import parse_params
from sparrow.host.torch_model import build_torch_model, set_flat

ROOT = Path(__file__).resolve().parents[1]
NN = ROOT / "firmware" / "nn"
# The firmware's own warning flags (firmware/Makefile): the header must build under -Werror.
FIRMWARE_WARN = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Wconversion", "-Wstrict-prototypes",
                 "-Wmissing-prototypes", "-Werror"]
NN_SOURCES = ["nn.c", "conv1d.c", "dense.c", "pool1d.c", "relu.c", "softmax_xent.c"]


def random_params(spec: ModelSpec, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(spec.num_params) * 0.2).astype(np.float32)


def make_run(folder: Path, spec: ModelSpec) -> dict[str, np.ndarray]:
    params = {"best": random_params(spec, 1), "last": random_params(spec, 2)}
    for which, vector in params.items():
        ex.save_model(folder, spec, vector, which)
    return params


def host_logits(spec: ModelSpec, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    module = build_torch_model(spec, seed=None)
    set_flat(module, params)
    with torch.no_grad():
        return module.eval()(torch.from_numpy(x)).numpy()


def inputs(spec: ModelSpec, batch: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *spec.input_shape)).astype(np.float32)


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sparrow.common.cli", "export", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cnn_run(tmp_path: Path) -> tuple[Path, ModelSpec, dict[str, np.ndarray]]:
    spec = get_spec("cnn_fmnist")  # conv2d, relu, maxpool2d, flatten, dense
    run = tmp_path / "run"
    return run, spec, make_run(run, spec)


@pytest.fixture
def watch_run(tmp_path: Path) -> tuple[Path, ModelSpec, dict[str, np.ndarray]]:
    spec = get_spec("cnn1d_watch")  # the firmware's model: conv1d, maxpool1d, avgpool1d, dense
    run = tmp_path / "watch"
    return run, spec, make_run(run, spec)


# -- the run directory -----------------------------------------------------------------

def test_save_model_writes_the_description_and_both_vectors_and_no_temporary_file(cnn_run) -> None:
    run, spec, params = cnn_run
    assert listing(run) == ["model.json", "model_best.npy", "model_last.npy"]
    assert ModelSpec.from_dict(json.loads((run / "model.json").read_text())) == spec
    for which in ex.WHICH:
        loaded_spec, loaded = ex.load_model(run, which)
        assert loaded_spec == spec
        np.testing.assert_array_equal(loaded, params[which])


def test_save_model_replaces_a_vector_and_keeps_the_description(cnn_run) -> None:
    run, spec, _ = cnn_run
    newer = random_params(spec, 9)
    ex.save_model(run, spec, newer, "last")
    np.testing.assert_array_equal(ex.load_model(run, "last")[1], newer)
    assert listing(run) == ["model.json", "model_best.npy", "model_last.npy"]


def test_save_model_refuses_another_model_an_unknown_which_and_a_wrong_length(cnn_run) -> None:
    run, spec, _ = cnn_run
    other = get_spec("mlp_digits")
    with pytest.raises(ValueError, match="another model"):
        ex.save_model(run, other, random_params(other, 0), "best")
    with pytest.raises(ValueError, match="which"):
        ex.save_model(run, spec, random_params(spec, 0), "first")
    with pytest.raises(ValueError, match="flat vector"):
        ex.save_model(run, spec, np.zeros(5, np.float32), "best")
    assert listing(run) == ["model.json", "model_best.npy", "model_last.npy"]


def test_load_model_refuses_a_vector_that_does_not_fit_or_is_not_finite(cnn_run) -> None:
    run, spec, params = cnn_run
    np.save(run / "model_best.npy", params["best"][:-1])
    with pytest.raises(ValueError, match="model_best.npy"):
        ex.load_model(run, "best")
    bad = params["last"].copy()
    bad[7] = np.nan
    np.save(run / "model_last.npy", bad)
    with pytest.raises(ValueError, match="NaN"):
        ex.load_model(run, "last")


# -- torch -----------------------------------------------------------------------------

def load_exported(py: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{py.stem}", py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_export_pt_and_py_give_the_logits_of_the_host_module(cnn_run, tmp_path: Path) -> None:
    run, spec, params = cnn_run
    files = ex.export(run, "torch")
    assert [f.name for f in files] == ["model_best.pt", "model_best.py"]
    source = files[1].read_text()
    assert "sparrow" not in source.split('"""')[2].lower(), "the .py must need torch only"
    exported = load_exported(files[1])
    model = exported.load()  # the .pt beside the .py
    x = inputs(spec, 6)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, host_logits(spec, params["best"], x), rtol=0, atol=1e-6)
    assert repr(exported.build()) == repr(build_torch_model(spec, seed=None))
    assert exported.INPUT_SHAPE == spec.input_shape and exported.NUM_CLASSES == spec.num_classes
    # The state_dict alone loads into the host's own module too.
    host = build_torch_model(spec, seed=None)
    host.load_state_dict(torch.load(files[0], weights_only=True))
    np.testing.assert_array_equal(torch.cat([p.reshape(-1) for p in host.parameters()]).detach().numpy(),
                                  params["best"])


def test_torch_export_of_the_last_vector_loads_from_an_explicit_path(cnn_run, tmp_path: Path) -> None:
    run, spec, params = cnn_run
    pt, py = ex.export(run, "torch", which="last", out=tmp_path / "out" / "fashion.pt")
    assert (pt.name, py.name) == ("fashion.pt", "fashion.py")
    moved = tmp_path / "weights.pt"
    shutil.copy(pt, moved)
    model = load_exported(py).load(moved)
    x = inputs(spec, 2)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, host_logits(spec, params["last"], x), rtol=0, atol=1e-6)


def test_the_command_table_loads_export_without_torch() -> None:
    code = "import sys, sparrow.host.export; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_every_layer_kind_has_a_torch_export() -> None:
    assert set(LAYER_KINDS) <= set(ex._TORCH_SOURCE)


# -- onnx ------------------------------------------------------------------------------

@pytest.fixture
def onnx_file(cnn_run, tmp_path: Path) -> tuple[Path, ModelSpec, np.ndarray]:
    run, spec, params = cnn_run
    (path,) = ex.export(run, "onnx", out=tmp_path / "cnn")
    assert path.name == "cnn.onnx"
    return path, spec, params["best"]


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_export_gives_the_host_predictions_in_onnxruntime_for_any_batch(onnx_file, batch: int) -> None:
    import onnxruntime as ort  # pinned in requirements.txt
    path, spec, params = onnx_file
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = inputs(spec, batch)
    (got,) = session.run(["logits"], {"input": x})
    want = host_logits(spec, params, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))


def test_onnx_export_gives_the_host_predictions_in_the_onnx_reference_evaluator(onnx_file) -> None:
    import onnx  # pinned in requirements.txt
    from onnx.reference import ReferenceEvaluator
    path, spec, params = onnx_file
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"
    x = inputs(spec, 3)
    (got,) = ReferenceEvaluator(model).run(None, {"input": x})
    np.testing.assert_allclose(got, host_logits(spec, params, x), rtol=0, atol=1e-4)


def test_onnx_export_without_the_onnx_package_says_what_to_install(cnn_run, monkeypatch) -> None:
    run, _, _ = cnn_run
    before = listing(run)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ValueError, match="requirements.txt"):
        ex.export(run, "onnx")
    assert listing(run) == before


# -- c ---------------------------------------------------------------------------------

def compilers() -> list[list[str]]:
    found = [["gcc"]]
    if shutil.which("arm-none-eabi-gcc"):
        found.append(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb"])
    return found


@pytest.mark.parametrize("compiler", compilers(), ids=lambda c: c[0])
def test_c_export_compiles_under_the_firmware_warnings(watch_run, tmp_path: Path, compiler: list[str]) -> None:
    if not shutil.which(compiler[0]):
        pytest.skip(f"{compiler[0]} is not installed")
    run, _, _ = watch_run
    (header,) = ex.export(run, "c")
    user = tmp_path / "user.c"
    user.write_text(f'#include "{header.name}"\n#include "{header.name}"\n'
                    "const nn_model *trained(void);\n"
                    "const nn_model *trained(void) { return &sparrow_trained_model; }\n"
                    "float first(void);\nfloat first(void) { return sparrow_trained_params[0]; }\n")
    done = subprocess.run([*compiler, *FIRMWARE_WARN, "-fsyntax-only", f"-I{NN}", f"-I{header.parent}", str(user)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_c_export_weights_parse_back_equal_to_the_trained_params(watch_run) -> None:
    run, spec, params = watch_run
    for which in ex.WHICH:
        (header,) = ex.export(run, "c", which=which)
        text = header.read_text()
        assert f"#define SPARROW_TRAINED_N_PARAMS {spec.num_params}u" in text
        got = parse_params(text)
        assert got.tobytes() == params[which].tobytes()


def test_c_export_runs_on_the_firmware_inference_path_like_the_host(watch_run, tmp_path: Path) -> None:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    run, spec, params = watch_run
    (header,) = ex.export(run, "c", out=tmp_path / "inc" / "watch")
    main = tmp_path / "main.c"
    main.write_text(f'#include <stdio.h>\n#include "{header.name}"\n'
                    "static float arena[SPARROW_TRAINED_ARENA_FLOATS];\n"
                    "int main(void)\n{\n    const float *logits;\n    unsigned i;\n"
                    "    float *in = nn_input(&sparrow_trained_model, arena);\n"
                    "    for (i = 0; i < SPARROW_TRAINED_IN_SIZE; ++i)\n"
                    "        if (scanf(\"%f\", &in[i]) != 1) return 3;\n"
                    "    if (nn_validate(&sparrow_trained_model) != NN_OK) return 4;\n"
                    "    if (nn_forward(&sparrow_trained_model, sparrow_trained_params, arena, &logits) != NN_OK)"
                    " return 5;\n"
                    "    for (i = 0; i < SPARROW_TRAINED_N_CLASSES; ++i) printf(\"%a\\n\", (double)logits[i]);\n"
                    "    return 0;\n}\n")
    binary = tmp_path / "infer"
    built = subprocess.run(["gcc", *FIRMWARE_WARN, "-ffp-contract=off", f"-I{NN}", f"-I{header.parent}",
                            "-o", str(binary), str(main), *(str(NN / s) for s in NN_SOURCES), "-lm"],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    x = inputs(spec, 2)
    want = host_logits(spec, params["best"], x)
    for sample, expected in zip(x, want):
        ran = subprocess.run([str(binary)], input="\n".join(f"{v:.9g}" for v in sample.ravel()),
                             capture_output=True, text=True, timeout=30)
        assert ran.returncode == 0, ran.stderr
        got = np.array([float.fromhex(line) for line in ran.stdout.split()], dtype=np.float32)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_c_export_refuses_a_model_the_firmware_lacks_and_writes_nothing(cnn_run) -> None:
    run, _, _ = cnn_run
    before = listing(run)
    with pytest.raises(ValueError, match="conv2d.*torch or onnx"):
        ex.export(run, "c")
    assert listing(run) == before


def test_c_export_of_a_flat_dense_model(tmp_path: Path) -> None:
    spec = ModelSpec("tiny", (12,), 3, (Layer("dense", out_features=5), Layer("relu"),
                                        Layer("dense", out_features=3)))
    params = random_params(spec, 4)
    ex.save_model(tmp_path, spec, params, "best")
    (header,) = ex.export(tmp_path, "c")
    assert parse_params(header.read_text()).tobytes() == params.tobytes()


# -- failures leave nothing half-written ---------------------------------------------

def test_a_torch_export_that_fails_midway_leaves_no_file(cnn_run, monkeypatch) -> None:
    run, _, _ = cnn_run
    before = listing(run)

    def broken_save(obj, where, *args, **kwargs):
        Path(where).write_bytes(b"half a state_dict")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ex.export(run, "torch")
    assert listing(run) == before


def test_an_onnx_export_that_fails_midway_keeps_the_previous_file(cnn_run, monkeypatch) -> None:
    run, _, _ = cnn_run
    (path,) = ex.export(run, "onnx")
    previous = path.read_bytes()
    before = listing(run)

    def broken_export(module, args, f, *more, **kwargs):
        Path(f).write_bytes(b"half a graph")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        ex.export(run, "onnx")
    assert listing(run) == before
    assert path.read_bytes() == previous


# -- the subcommand --------------------------------------------------------------------

def test_sparrow_export_on_a_missing_directory_exits_2_with_one_line(tmp_path: Path) -> None:
    done = cli(str(tmp_path / "nowhere"), "--format", "torch")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("sparrow export:") and "nowhere" in lines[0]


@pytest.mark.parametrize("args, says", [
    (["--format", "tflite"], "unknown format"),
    (["--format", "onnx", "--which", "first"], "which"),
    (["--format", "c"], "not supported by the firmware"),
])
def test_sparrow_export_refuses_bad_input_with_one_line_and_writes_nothing(cnn_run, args, says) -> None:
    run, _, _ = cnn_run
    before = listing(run)
    done = cli(str(run), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr
    assert listing(run) == before


def test_sparrow_export_on_a_run_without_its_vector_exits_2_naming_the_file(cnn_run) -> None:
    run, _, _ = cnn_run
    os.remove(run / "model_last.npy")
    done = cli(str(run), "--format", "torch", "--which", "last")
    assert done.returncode == 2
    assert "model_last.npy" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_sparrow_export_prints_one_json_line_naming_what_it_wrote(watch_run, tmp_path: Path) -> None:
    run, _, _ = watch_run
    done = cli(str(run), "--format", "c", "--which", "last", "--out", str(tmp_path / "fw" / "watch.h"))
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    report = json.loads(line)
    assert (report["format"], report["which"]) == ("c", "last")
    (written,) = report["files"]
    assert written["path"] == str(tmp_path / "fw" / "watch.h")
    assert written["bytes"] == (tmp_path / "fw" / "watch.h").stat().st_size
