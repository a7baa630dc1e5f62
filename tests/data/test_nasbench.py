"""Tests for the NAS-Bench-201 loader and its arch2vec encoding."""

import pytest
import torch

from pyrolatent.data import NASBench201, load_dataset, load_nasbench201
from pyrolatent.data.nasbench import ADJACENCY, OPERATIONS, parse_arch_string

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def table():
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return load_nasbench201(SHARED_DATA / "nasbench201")


def test_table_sizes_and_best_rows(table):
    assert table.n_cells == 15625
    assert len(set(table.arch_strings)) == 15625
    # the data README: best CIFAR-10 cell is row 6111, CIFAR-100 row 9930, ImageNet16-120 row 857
    assert int(table.accuracy["cifar10"].argmax()) == 6111
    assert int(table.accuracy["cifar100"].argmax()) == 9930
    assert int(table.accuracy["imagenet16"].argmax()) == 857
    assert float(table.accuracy["cifar10"].max()) == pytest.approx(94.3733, abs=1e-4)
    assert table.arch_strings[6111] == BEST_C10


def test_encoding_of_row_6111(table):
    one_hot = table.one_hot()[6111]
    assert one_hot.shape == (8, 7)
    names = [OPERATIONS[i] for i in one_hot.argmax(-1).tolist()]
    assert names == [
        "input",
        "nor_conv_3x3",
        "nor_conv_3x3",
        "nor_conv_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "nor_conv_1x1",
        "output",
    ]
    assert torch.equal(one_hot.sum(-1), torch.ones(8))


def test_encoding_of_row_0(table):
    # row 0: |avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|
    assert table.node_ops[0].tolist() == [0, 3, 1, 4, 1, 4, 4, 6]


def test_fixed_adjacency(table):
    expected = torch.zeros(8, 8)
    for i, js in {0: (1, 2, 4), 1: (3, 5), 2: (6,), 3: (6,), 4: (7,), 5: (7,), 6: (7,)}.items():
        expected[i, list(js)] = 1.0
    assert torch.equal(ADJACENCY, expected)
    adj = table.graph_data()["adj"]
    assert adj.shape == (15625, 8, 8) and torch.equal(adj[6111], expected)


def test_load_dataset_spec_round_trip(shared_data):
    ds = load_dataset(f"nasbench201:{shared_data / 'nasbench201'}")
    assert ds.name == "nasbench201" and ds.x.shape == (15625, 56)
    back = NASBench201.from_dataset(ds)
    table = load_nasbench201(shared_data / "nasbench201" / "nats_bench_tss_200ep_test_acc.csv")
    assert torch.equal(back.edge_ops, table.edge_ops)
    assert torch.equal(ds.truth["cifar100"], table.accuracy["cifar100"])


@pytest.mark.parametrize(
    "bad, match",
    [("|none~0|+|none~0|none~1|", "must have the form"), ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "conv")],
)
def test_parse_arch_string_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_arch_string(bad)


def test_bad_csv_names_missing_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="must have the columns"):
        load_nasbench201(path)
