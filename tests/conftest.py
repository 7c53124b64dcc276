from pathlib import Path

import pytest

from priors.data.files import extract_packaged
from priors.data.nhanes import NHANES_FILES
from threads import single_thread

REPO_ROOT = Path(__file__).resolve().parents[1]

# The slowest tests (measured with --durations on the 2-core CI machine: each took 5 s to 12 min
# there), marked ``slow`` so that ``python -m pytest -q -m "not slow"`` stays under ~2 minutes.
# Keyed on the test function's name (every parametrization), so the list survives moving a
# test file; a new slow test can also carry ``@pytest.mark.slow`` itself.
SLOW_TESTS = {
    "test_relevance_prior_moves_relevance_off_the_decoy_and_recovers_accuracy",  # ViT, 30 epochs
    "test_two_by_two_multirun_through_joblib_and_report",  # a joblib multirun + the report
    "test_optuna_sweeper_tunes_the_weight_on_validation",
    "test_sigkilled_run_resumes_bit_identical",  # subprocesses killed and resumed
    "test_a_crashing_job_leaves_the_others_and_is_reported",
    "test_train_py_prior_xg",  # python train.py in a subprocess
    "test_train_py_runs_offline_from_the_packaged_copy",
    "test_evaluate_py_command_line",
    "test_ddp_matches_one_process_with_the_same_global_batch",  # 2 gloo processes
    "test_ddp_expected_gradients_draws_per_rank_and_reproducibly",
    "test_roar_and_kar_with_a_correct_attribution_vs_random",  # retrainings
    "test_second_run_with_the_same_settings_rebuilds_no_dataset",
    "test_class_specific_maps_find_each_targets_digit",  # these two share a trained ViT
    "test_rollout_and_raw_attention_are_class_agnostic",
    "test_decoy_hurts_and_mask_priors_recover",  # five Decoy-Digits trainings
    "test_cascading_randomization_separates_gradient_from_guided_backprop",
    "test_study_configs_share_architecture_and_split",
    "test_study_priors_share_split_and_initial_weights",
    "test_decoy_digits_writes_png_grids_and_tensorboard_images",  # these two share two
    "test_maps_show_the_prior_moving_attribution_off_the_decoy",  # Decoy-Digits trainings
    "test_wheel_ships_the_packaged_files",  # builds a wheel with pip
    "test_same_seed_same_weights_with_every_prior",  # one training per prior
    "test_compose_decoy_digits_variants",
    "test_configs_compose",  # composes every ViT experiment variant
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def nhanes_dir(tmp_path_factory) -> Path:
    """A folder holding the real NHANES CSVs, written out from the copy packaged with priors.

    Every test that reads NHANES thus exercises the packaged files and their checksum check
    (``extract_packaged`` raises on a corrupted copy); nothing is skipped.
    """
    folder = tmp_path_factory.mktemp("nhanes")
    for name, digest in NHANES_FILES.items():
        extract_packaged(name, digest, folder)
    return folder


@pytest.fixture
def one_thread():
    """One intra-op thread for this test (see ``threads.py``)."""
    with single_thread():
        yield
