"""A node's own data: every form load_data reads, its one-line errors, node_data, and ``sparrow data pack``."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shard_file import Shard
from sparrow.agent.config import AgentConfig
from sparrow.agent.data import node_data
from sparrow.common import data_sources
from sparrow.common.data_sources import check_against_spec, load_data
from sparrow.common.datasets import load, partition

ROOT = Path(__file__).resolve().parents[1]


def samples(n: int = 12, shape: tuple[int, ...] = (3, 4), classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    return x, y


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join([",".join(header)] + [",".join(str(v) for v in row) for row in rows]) + "\n")
    return path


def one_line_error(source: str, **kwargs) -> str:
    with pytest.raises(ValueError) as caught:
        load_data(source, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# -- each form loads what was written ----------------------------------------------


def test_an_npz_file_gives_back_its_x_as_float32_and_y_as_int64(tmp_path: Path) -> None:
    x, y = samples()
    np.savez(tmp_path / "data.npz", x=x.astype(np.float64), y=y.astype(np.int32))
    got_x, got_y = load_data(str(tmp_path / "data.npz"))
    assert got_x.dtype == np.float32 and got_y.dtype == np.int64
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)


def test_a_csv_file_gives_every_column_but_the_label_as_a_feature(tmp_path: Path) -> None:
    x, y = samples(n=5, shape=(3,))
    rows = [[float(x[i, 0]), int(y[i]), float(x[i, 1]), float(x[i, 2])] for i in range(5)]
    path = write_csv(tmp_path / "data.csv", ["a", "label", "b", "c"], rows)
    got_x, got_y = load_data(str(path))
    assert got_x.shape == (5, 3) and got_x.dtype == np.float32
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)


def test_a_csv_label_column_can_have_another_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", ["f1", "f2", "activity"], [[0.5, 1, 2], [1.5, 2, 0]])
    got_x, got_y = load_data(str(path), label_column="activity")
    np.testing.assert_array_equal(got_x, [[0.5, 1.0], [1.5, 2.0]])
    np.testing.assert_array_equal(got_y, [2, 0])


def test_a_folder_of_npy_files_takes_each_class_id_from_the_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "classes"
    folder.mkdir()
    x0, _ = samples(n=3, seed=1)
    x2, _ = samples(n=4, seed=2)
    np.save(folder / "0.npy", x0)
    np.save(folder / "2_walking.npy", x2)
    (folder / "README.txt").write_text("other files are ignored\n")
    got_x, got_y = load_data(str(folder))
    np.testing.assert_array_equal(got_x, np.concatenate([x0, x2]))
    np.testing.assert_array_equal(got_y, [0, 0, 0, 2, 2, 2, 2])


def test_a_function_in_a_python_file_is_read_as_a_stream_of_batches(tmp_path: Path) -> None:
    script = tmp_path / "sensor.py"
    script.write_text(
        "import numpy as np\n"
        "def batches():\n"
        "    for i in range(3):\n"
        "        yield np.full((2, 4), i, dtype=np.float64), np.array([i, i + 1])\n")
    x, y = load_data(f"{script}:batches")
    assert x.shape == (6, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(y, [0, 1, 1, 2, 2, 3])


def test_a_function_of_an_importable_module_is_read_by_name(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "my_sensor_feed.py").write_text(
        "def read():\n    return [([[1.0, 2.0]], [1]), ([[3.0, 4.0]], [0])]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    x, y = load_data("my_sensor_feed:read")
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [1, 0])


def test_a_stream_is_read_only_up_to_max_samples_and_then_left_alone(tmp_path: Path) -> None:
    script = tmp_path / "endless.py"
    script.write_text(
        "import itertools\n"
        "import numpy as np\n"
        "PULLED = []\n"
        "def forever():\n"
        "    for i in itertools.count():\n"
        "        PULLED.append(i)\n"
        "        yield np.full((4, 2), i, dtype=np.float32), np.full(4, i % 3)\n")
    x, y = load_data(f"{script}:forever", max_samples=10)
    assert x.shape == (10, 2) and y.shape == (10,)
    np.testing.assert_array_equal(x[:, 0], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    pulled = sys.modules["_sparrow_data_endless"].PULLED
    assert pulled == [0, 1, 2]


def test_a_stream_is_capped_at_the_module_default_when_no_limit_is_given(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data_sources, "STREAM_MAX_SAMPLES", 7)
    script = tmp_path / "many.py"
    script.write_text("import numpy as np\ndef go():\n    while True:\n"
                      "        yield np.zeros((5, 3)), np.zeros(5, dtype=int)\n")
    x, _ = load_data(f"{script}:go")
    assert x.shape == (7, 3)


def test_max_samples_on_a_file_keeps_samples_spread_over_every_class(tmp_path: Path) -> None:
    x = np.arange(30, dtype=np.float32).reshape(15, 2)
    y = np.repeat(np.arange(3), 5)
    np.savez(tmp_path / "sorted.npz", x=x, y=y)
    got_x, got_y = load_data(str(tmp_path / "sorted.npz"), max_samples=6)
    assert got_x.shape == (6, 2)
    assert set(got_y.tolist()) == {0, 1, 2}


# -- checking against the model --------------------------------------------------


def test_check_against_spec_reshapes_a_flat_row_into_the_model_input() -> None:
    x = np.arange(2 * 64, dtype=np.float32).reshape(2, 64)
    shaped = check_against_spec(x, np.array([0, 9]), (1, 8, 8), 10, "data.csv")
    assert shaped.shape == (2, 1, 8, 8)
    np.testing.assert_array_equal(shaped.reshape(2, 64), x)


def test_check_against_spec_refuses_samples_of_the_wrong_size() -> None:
    with pytest.raises(ValueError) as caught:
        check_against_spec(np.zeros((3, 10), np.float32), np.zeros(3, np.int64), (1, 8, 8), 10, "data.csv")
    assert str(caught.value) == "data.csv: samples have 10 values, the model takes (1, 8, 8) = 64"


def test_check_against_spec_refuses_a_label_beyond_the_model_classes() -> None:
    with pytest.raises(ValueError) as caught:
        check_against_spec(np.zeros((2, 64), np.float32), np.array([3, 12]), (1, 8, 8), 10, "data.npz")
    assert str(caught.value) == "data.npz: label 12 is out of range for a model with 10 classes"


# -- every bad input has its one-line error --------------------------------------


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "nothere.csv")
    assert one_line_error(path) == f"{path}: no such file or folder"


def test_an_empty_file_has_no_samples(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert one_line_error(str(path)) == f"{path}: holds no samples (the file is empty)"


def test_a_csv_with_only_a_header_has_no_samples(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "head.csv", ["a", "label"], [])
    assert one_line_error(str(path)) == f"{path}: holds no samples"


def test_a_csv_without_the_label_column_lists_the_columns_it_has(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", ["a", "b", "class"], [[1, 2, 0]])
    assert one_line_error(str(path)) == f"{path}: has no label column 'label'; its columns are a, b, class"


def test_a_csv_value_that_is_not_a_number_names_its_line_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", ["a", "label"], [[1.0, 0], ["high", 1]])
    assert one_line_error(str(path)) == f"{path}: line 3, column 'a': 'high' is not a number"


def test_a_label_that_is_not_a_non_negative_integer_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", ["a", "label"], [[1.0, 0], [2.0, 1.5]])
    assert one_line_error(str(path)) == f"{path}: line 3: label '1.5' is not a non-negative integer"
    np.savez(tmp_path / "neg.npz", x=np.zeros((2, 3)), y=np.array([0, -1]))
    assert "label -1 is not a non-negative integer" in one_line_error(str(tmp_path / "neg.npz"))


def test_different_sample_and_label_counts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((5, 3)), y=np.zeros(4, dtype=int))
    assert one_line_error(str(path)) == f"{path}: 5 samples but 4 labels"


def test_an_npz_without_x_and_y_names_the_arrays_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, images=np.zeros((5, 3)), y=np.zeros(5, dtype=int))
    assert one_line_error(str(path)) == f"{path}: needs arrays 'x' and 'y', it holds images, y"


def test_non_numeric_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1]))
    assert one_line_error(str(path)) == f"{path}: x holds non-numeric values (dtype <U1)"


def test_an_unknown_extension_lists_the_accepted_forms(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("1 2 3\n")
    message = one_line_error(str(path))
    assert message.startswith(f"{path}: unknown data format '.txt'; give one of: ")
    for form in data_sources.FORMS:
        assert form in message


def test_an_unknown_module_is_named() -> None:
    assert one_line_error("no_such_sparrow_module:read").startswith(
        "no_such_sparrow_module:read: no module named 'no_such_sparrow_module'")


def test_a_npy_file_without_a_class_id_is_named(tmp_path: Path) -> None:
    np.save(tmp_path / "walking.npy", np.zeros((2, 3)))
    assert one_line_error(str(tmp_path)) == (
        f"{tmp_path}: file 'walking.npy' does not start with a class id (0.npy, 1_walking.npy ...)")


# -- the node's data -------------------------------------------------------------


def test_node_data_without_own_data_is_todays_partition_of_the_bundled_set() -> None:
    config = AgentConfig(num_nodes=3, node_index=1, partition="dirichlet", partition_seed=4)
    x, y, classes = node_data(config)
    ds = load("digits")
    mine = partition(ds, 3, "dirichlet", config.alpha, 4)[1]
    np.testing.assert_array_equal(x, ds.x_train[mine])
    np.testing.assert_array_equal(y, ds.y_train[mine])
    assert classes == ds.num_classes == 10


def test_node_data_with_own_data_reads_it_and_leaves_the_class_count_to_the_model(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mine.csv", ["a", "b", "kind"], [[1, 2, 0], [3, 4, 1]])
    x, y, classes = node_data(AgentConfig(data=str(path), label_column="kind"))
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])
    assert classes is None


def test_agent_config_refuses_data_that_is_not_a_string() -> None:
    with pytest.raises(ValueError, match="agent.data"):
        AgentConfig(data=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="agent.label_column"):
        AgentConfig(label_column="")


# -- sparrow data pack -----------------------------------------------------------


def sparrow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sparrow.common.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_data_pack_writes_a_shard_file_the_micropython_node_reads_back(tmp_path: Path) -> None:
    x, y = samples(n=9, shape=(6,), classes=4)
    rows = [[*map(float, x[i]), int(y[i])] for i in range(9)]
    path = write_csv(tmp_path / "walks.csv", [f"v{i}" for i in range(6)] + ["label"], rows)
    out = tmp_path / "shard.bin"
    done = sparrow("data", "pack", str(path), "--out", str(out), "--input-shape", "2,3", "--classes", "7")
    assert done.returncode == 0, done.stderr
    shard = Shard(str(out))
    try:
        assert (shard.channels, shard.length, shard.classes, shard.count) == (2, 3, 7, 9)
        assert list(shard.labels) == y.tolist()
        for i in range(9):
            np.testing.assert_array_equal(np.array(shard.sample(i), dtype=np.float32), x[i])
    finally:
        shard.close()


def test_data_pack_reads_a_npy_folder_into_a_shard_file(tmp_path: Path) -> None:
    folder = tmp_path / "classes"
    folder.mkdir()
    x0, _ = samples(n=2, shape=(1, 8, 8), seed=3)
    x1, _ = samples(n=3, shape=(1, 8, 8), seed=4)
    np.save(folder / "0_rest.npy", x0)
    np.save(folder / "1_move.npy", x1)
    out = tmp_path / "shard.bin"
    done = sparrow("data", "pack", str(folder), "--out", str(out))
    assert done.returncode == 0, done.stderr
    shard = Shard(str(out))
    try:
        assert (shard.channels, shard.length, shard.classes, shard.count) == (1, 64, 2, 5)
        assert list(shard.labels) == [0, 0, 1, 1, 1]
        np.testing.assert_array_equal(np.array(shard.sample(4), dtype=np.float32), x1[2].ravel())
    finally:
        shard.close()


def test_data_pack_fails_with_one_line_and_status_2_on_a_bad_input(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", ["a", "b"], [[1, 2]])
    done = sparrow("data", "pack", str(path), "--out", str(tmp_path / "shard.bin"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"sparrow data: {path}: has no label column 'label'; its columns are a, b"]
    assert not (tmp_path / "shard.bin").exists()


def test_data_pack_refuses_an_input_shape_that_does_not_fit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", ["a", "b", "label"], [[1, 2, 0]])
    done = sparrow("data", "pack", str(path), "--out", str(tmp_path / "s.bin"), "--input-shape", "1,8,8")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"sparrow data: {path}: samples have 2 values, the model takes (1, 8, 8) = 64"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_data_pack_format_c_writes_sources_the_firmware_compiles(tmp_path: Path) -> None:
    x, y = samples(n=4, shape=(3, 5), classes=3)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    out = tmp_path / "gen"
    done = sparrow("data", "pack", str(tmp_path / "data.npz"), "--format", "c", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"shard_data.h", "shard.c"}
    nn = ROOT / "firmware" / "nn"
    check = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                            f"-I{nn}", f"-I{out}", str(out / "shard.c")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # Read it back the way the board does (firmware/nn/shard.c), within the int8 quantisation step.
    main = tmp_path / "main.c"
    main.write_text(
        '#include <stdio.h>\n#include "shard_data.h"\n'
        "int main(void) {\n"
        "    float x[15]; uint16_t label; uint32_t i, j;\n"
        "    for (i = 0; i < sparrow_shard.n_samples; ++i) {\n"
        "        if (nn_shard_sample(&sparrow_shard, i, x, &label) != NN_OK) return 1;\n"
        '        printf("%u", (unsigned)label);\n'
        '        for (j = 0; j < 15; ++j) printf(" %.9g", x[j]);\n'
        '        printf("\\n");\n'
        "    }\n    return 0;\n}\n")
    binary = tmp_path / "read_shard"
    build = subprocess.run(["gcc", "-std=c99", f"-I{nn}", f"-I{out}", str(main), str(out / "shard.c"),
                            str(nn / "shard.c"), "-o", str(binary)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lines = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split("\n")
    read = np.array([[float(v) for v in line.split()] for line in lines if line])
    np.testing.assert_array_equal(read[:, 0], y)
    step = np.abs(x).max(axis=(0, 2)) / 127  # one scale per channel
    error = np.abs(read[:, 1:].reshape(4, 3, 5) - x)
    assert np.all(error <= step[None, :, None] / 2 + 1e-6)
