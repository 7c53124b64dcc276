"""Inputs checked at the edge (issue 20, groups 3, 5, 8 and parts of 10): each bad input is
refused with a message naming the problem, where it used to be silently reinterpreted."""
import pytest
import torch
from torch import nn

from priors import Prior, PriorModule
from priors.batch import parse_batch
from priors.data import CSVDataModule
from priors.data.example_csv import example_table
from priors.penalties import masked_l2_penalty


def _csv(tmp_path, frame=None, text=None, name="t.csv"):
    path = tmp_path / name
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    else:
        frame.to_csv(path, index=False)
    return path


def _dm(path, **kw):
    kw.setdefault("label", "died")
    kw.setdefault("index_col", "id")
    kw.setdefault("categorical", ["smoker", "region"])
    dm = CSVDataModule(path, **kw)
    dm.setup("fit")
    return dm


# ------------------------------------------------------------ group 3: duplicate columns

def test_label_column_twice_is_refused_not_leaked(tmp_path):
    table = example_table(120)
    text = table.to_csv(index=False).splitlines()
    lines = [text[0] + ",died"] + [f"{row},{row.rsplit(',', 1)[1]}" for row in text[1:]]
    with pytest.raises(ValueError, match=r"t.csv has duplicate column names \['died'\]"):
        _dm(_csv(tmp_path, text="\n".join(lines)))


def test_duplicate_feature_name_is_refused(tmp_path):
    table = example_table(120)
    text = table.to_csv(index=False).replace("id,age,sbp", "id,age,age", 1)
    with pytest.raises(ValueError, match=r"duplicate column names \['age'\]"):
        _dm(_csv(tmp_path, text=text))


# ------------------------------------------------------------ group 10: CSV read errors

@pytest.mark.parametrize("content, message", [
    (b"", "t.csv is empty"),
    (b"id,age,died\n1,3\xff,0\n2,4,1\n", "t.csv is not UTF-8 text \\(byte 0xff"),
])
def test_unreadable_csv_names_the_file(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        _dm(_csv(tmp_path, text=content), categorical=[])


def test_missing_index_col_is_named(tmp_path):
    with pytest.raises(ValueError, match="index_col 'patient' is not a column of t.csv"):
        _dm(_csv(tmp_path, example_table(60)), index_col="patient")


def test_an_inf_cell_is_named_by_column_and_row_before_training(tmp_path):
    table = example_table(120)
    table["sbp"] = table["sbp"].astype(float)
    table.loc[7, "sbp"] = float("inf")
    with pytest.raises(ValueError, match="1 infinite value\\(s\\).*column 'sbp', row 8"):
        _dm(_csv(tmp_path, table))


# ------------------------------------------------------------ group 8: labels

def test_labels_differing_in_case_or_whitespace_are_refused(tmp_path):
    table = example_table(120)
    table["died"] = ["yes" if v else "no" for v in table["died"]]
    table.loc[:4, "died"] = ["Yes", "No", " yes", "no ", "yes"]
    with pytest.raises(ValueError, match=r"differ only in case or whitespace: "
                                         r"\[\[' yes', 'Yes', 'yes'\], \['No', 'no', 'no '\]\]"):
        _dm(_csv(tmp_path, table))


def test_three_label_values_with_positive_label_are_refused(tmp_path):
    table = example_table(150)
    table["died"] = (["a", "b", "c"] * 50)
    with pytest.raises(ValueError, match=r"positive_label='b' makes a binary task, but label "
                                         r"column 'died' of t.csv has 3 values"):
        _dm(_csv(tmp_path, table), positive_label="b")
    assert _dm(_csv(tmp_path, table)).num_classes == 3  # without it: multi-class, as documented


# ------------------------------------------------------------ group 5: masks

def _attr_and_disjoint_masks():
    attr = torch.ones(2, 1, 2, 2)
    mask = torch.zeros(2, 2, 2)
    mask[0, 0] = 1  # example 0: top row; example 1: bottom row
    mask[1, 1] = 1
    return attr, mask


def test_masked_l2_refuses_a_mask_that_broadcasts_across_the_batch():
    attr, mask = _attr_and_disjoint_masks()
    # The right layout: each example with its own mask (2 pixels of 1.0 each).
    assert float(masked_l2_penalty(attr, mask.unsqueeze(1))) == 2.0
    with pytest.raises(ValueError, match=r"example by example.*mask.unsqueeze\(1\)"):
        masked_l2_penalty(attr, mask)  # used to broadcast to (2, 2, 2, 2): penalty 4.0
    with pytest.raises(ValueError, match="example by example"):
        masked_l2_penalty(attr, mask.unsqueeze(1)[:1])  # one mask for the whole batch


def test_prior_compute_refuses_the_broadcasting_mask():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    prior = Prior("grad", "masked_l2", 1.0)
    x = torch.rand(2, 1, 2, 2)
    _, mask = _attr_and_disjoint_masks()
    with pytest.raises(ValueError, match="example by example"):
        prior.compute(model, x, mask=mask)


def test_a_0_255_mask_is_refused():
    attr = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\].*\[0, 255\]"):
        masked_l2_penalty(attr, torch.tensor([[0.0, 255.0, 0.0], [255.0, 0.0, 0.0]]))


def test_third_batch_element_is_a_mask_only_when_shaped_like_x():
    x, y = torch.rand(4, 3), torch.ones(4)
    assert parse_batch((x, y, torch.rand(4, 1))).mask is None  # per-example weights
    assert parse_batch((x, y, torch.rand(4))).mask is None
    assert parse_batch((x, y, torch.ones(4, 3))).mask is not None
    images = torch.rand(4, 3, 5, 5)
    assert parse_batch((images, y, torch.ones(4, 1, 5, 5))).mask is not None  # over channels
    assert parse_batch((images, y, torch.ones(4, 1, 1, 1))).mask is None


def test_prior_module_names_the_dropped_mask_layout():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1), nn.Flatten(0))
    module = PriorModule(model, Prior("grad", "masked_l2", 1.0))
    batch = (torch.rand(2, 1, 2, 2), torch.ones(2), torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"needs mask.unsqueeze\(1\)"):
        module.training_step(batch, 0)


# ------------------------------------------------------------ group 10: dtype, penalty arity

def test_dtype_mismatch_between_model_and_inputs_is_explained():
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    x = torch.rand(4, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="inputs are torch.float64 but the model's parameters "
                                        "are torch.float32"):
        Prior("grad", "l1", 1.0).compute(model, x)
    module = PriorModule(model, Prior("grad", "l1", 1.0))
    with pytest.raises(TypeError, match="training inputs are torch.float64"):
        module.training_step((x, torch.ones(4)), 0)


def test_penalty_with_one_argument_is_refused_at_construction():
    with pytest.raises(TypeError, match=r"must accept \(attributions, mask\)"):
        Prior("grad", lambda a: a.abs().sum(), 1.0)
    Prior("grad", lambda a, mask=None: a.abs().sum(), 1.0)  # the documented form
