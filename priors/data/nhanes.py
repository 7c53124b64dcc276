"""NHANES I 10-year (or ``horizon_years``) mortality prediction as a LightningDataModule.

Data source
-----------
The First National Health and Nutrition Examination Survey (NHANES I, 1971-1974) with
mortality follow-up from the NHANES I Epidemiologic Follow-up Study, run by the U.S. Centers
for Disease Control and Prevention / National Center for Health Statistics (CDC / NCHS);
public-domain U.S. government data. We use the 18-feature subset packaged by the ``shap``
project (https://github.com/shap/shap, ``data/NHANESI_subset_X.csv`` and
``data/NHANESI_subset_y.csv``; 9932 patients). The two files ship gzip-compressed inside
``priors`` (``priors/data/packaged/``) and are used, checksum-verified, whenever the data folder
does not hold them, so no network is needed (see :mod:`priors.data.files`).

``y`` encodes survival (see :mod:`priors.data.survival` for the label rule): a binary label for
mortality within ``horizon_years`` is 1 if ``0 < y <= horizon``, 0 if ``|y| > horizon``, and
undefined for patients censored before the horizon, who are dropped. ``y == 0`` carries no
follow-up at all and is dropped too. Note that the shap CSV stores 382 patients as ``-0.0``
(censored at time zero): ``-0.0 < 0`` is False in IEEE arithmetic, so a naive ``y < 0`` test
would keep them as negatives; here they are dropped. At a 10-year horizon this leaves 9535
labelled patients, 1503 of them positive.

Protocol
--------
The small-data protocol (``split="small_data"``) follows the NHANES experiments of Erion,
Janizek, Sturmfels, Lundberg and Lee, "Improving performance of deep learning models with
axiomatic attribution priors and expected gradients", Nature Machine Intelligence 3, 620-631
(2021): a handful of randomly drawn training patients (100 by default), the same number of
validation patients, and every remaining patient as test set; each repetition uses a new
seed. Splitting, train-only imputation/standardization and the loaders are those of
:class:`~priors.data.tabular.TabularDataModule`. Their experiments use the full NHANES I matrix
(about 13k patients, over 100 features after one-hot encoding); this module uses the
18-feature subset. The full matrix loads with ``data=csv`` (see :mod:`priors.data.csv`).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from priors.data.arguments import check_fraction as _check_fraction  # noqa: F401 (old name)
from priors.data.arguments import check_int as _check_int  # noqa: F401 (old name)
from priors.data.download import DatasetNotFoundError, manual_download_hint
from priors.data.files import REPO_ROOT, locate, packaged_names, resolve_data_dir  # noqa: F401
from priors.data.loaders import make_dataloader  # noqa: F401 (imported from here before)
from priors.data.survival import check_horizon, mortality_labels, read_xy_pair
from priors.data.tabular import SPLITS, TabularDataModule, TabularState  # noqa: F401

__all__ = [
    "NHANES_FILES",
    "NHANES_FULL_FILES",
    "NHANES_URL_BASE",
    "NHANESDataModule",
    "load_nhanes",
    "mortality_labels",
    "resolve_data_dir",
]

_State = TabularState  # old name; REPO_ROOT, SPLITS, make_dataloader also stay importable here

NHANES_URL_BASE = "https://github.com/shap/shap/raw/master/data/"
NHANES_X_FILE = "NHANESI_subset_X.csv"
NHANES_Y_FILE = "NHANESI_subset_y.csv"
#: file name -> sha256 of the upstream file (and of the uncompressed packaged copy).
NHANES_FILES = {
    NHANES_X_FILE: "cef5336deb83640da63adb3a36ddd436da49f685480c87a37c8b2959602bcb99",
    NHANES_Y_FILE: "a26b0d295c0bbad0aa8034be8598274e35bd43c98e5a25cfcb407453cae4d7aa",
}
#: The full NHANES I matrix of the attribution-prior papers (not packaged: downloaded with
#: these checksums, the ones other public projects pin for shap's files).
NHANES_FULL_FILES = {
    "NHANESI_X.csv": "0fa1e524900008da254c365b501c96768e55b94858fdc4045886d887654a1ba8",
    "NHANESI_y.csv": "70c8d6ab022e7b080752b339ee8edc991f2fd203c294b5ca55b36bcb902aab93",
}


def nhanes_url(filename: str) -> str:
    return NHANES_URL_BASE + filename


def nhanes_source(path: str | os.PathLike, download: bool = True, packaged: bool = True):
    """A readable source for a known NHANES file at ``path`` (see :func:`locate`), or ``path``
    itself when its name is not one of the shap NHANES files."""
    name = os.path.basename(path)
    digest = NHANES_FILES.get(name) or NHANES_FULL_FILES.get(name)
    if digest is None:
        return path
    return locate(path, digest, nhanes_url(name), download=download, packaged=packaged,
                  what="NHANES")


def load_nhanes(
    data_dir: str | os.PathLike, packaged: bool = True, download: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """Read the two NHANES subset CSVs; return ``(X, y)`` indexed by patient id.

    Files in ``data_dir`` win; a missing one comes from the packaged copy (``packaged=True``)
    or, with ``download=True``, from the shap repository (sha256-verified).

    Raises:
        DatasetNotFoundError: a file is missing (and not packaged / not downloadable).
        ValueError: the files are malformed or their index columns do not match row for row.
    """
    data_dir = os.fspath(data_dir)
    sources = [nhanes_source(os.path.join(data_dir, name), download, packaged)
               for name in (NHANES_X_FILE, NHANES_Y_FILE)]
    return read_xy_pair(*sources)


class NHANESDataModule(TabularDataModule):
    """NHANES I mortality within ``horizon_years`` (binary), 18 clinical features.

    See the module docstring for the data source, labelling and the small-data protocol of
    Erion et al. (Nature Machine Intelligence, 2021).

    Args:
        data_dir: folder for ``NHANESI_subset_X.csv`` and ``NHANESI_subset_y.csv``. A relative
            path is resolved against the current working directory and, if the files are not
            there, against the repository root (Hydra may have changed the cwd to its output
            folder); see :func:`resolve_data_dir`. Files missing there come from the packaged
            copy.
        horizon_years: prediction horizon (> 0).
        split, val_fraction, test_fraction, n_train, n_val, n_irrelevant, batch_size,
            num_workers, seed: see :class:`~priors.data.tabular.TabularDataModule`
            (``"stratified"`` by label, or ``"small_data"``: ``n_train`` / ``n_val`` random
            patients and all remaining ones as test set).
        download: when the files are neither in ``data_dir`` nor packaged (or
            ``packaged=False``), download them from the shap repository (sha256-verified).
            Offline failures raise :class:`~priors.data.download.DownloadError`.
        keep_zero_followup: the subset stores 382 patients as ``y = -0.0`` (censored at time
            0: no follow-up). By the label rule they have no label and are dropped (9535
            labelled rows at 10 years, 1503 positive). ``True`` counts them as survivors
            instead (9917 rows, the count quoted in the data README), which adds label noise.
        packaged: use the copy shipped with ``priors`` when ``data_dir`` lacks the files.

    After :meth:`setup` (called lazily by the attributes below) the module exposes
    ``train_dataset`` / ``val_dataset`` / ``test_dataset`` (``TensorDataset`` of float32
    ``x (N, F)`` and float32 0/1 ``y (N,)``), ``num_features``, ``feature_names``,
    ``irrelevant_mask``, ``train_idx`` / ``val_idx`` / ``test_idx`` (positions into the
    labelled patients, see ``patient_ids``), and the preprocessing statistics fitted on the
    training split: ``impute_mean_``, ``scale_mean_``, ``scale_std_`` (float64 numpy arrays).

    >>> dm = NHANESDataModule(data_dir="/nonexistent", split="small_data", seed=0)
    >>> dm.num_features, dm.task, dm.num_classes, len(dm.train_dataset)
    (18, 'binary', 1, 100)
    """

    def __init__(
        self,
        data_dir: str | os.PathLike = "data/nhanes",
        horizon_years: float = 10.0,
        split: str = "stratified",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        n_train: int = 100,
        n_val: int = 100,
        n_irrelevant: int = 0,
        batch_size: int | None = 256,
        num_workers: int = 0,
        seed: int = 0,
        download: bool = True,
        keep_zero_followup: bool = False,
        packaged: bool = True,
    ) -> None:
        horizon_years = check_horizon(horizon_years)
        super().__init__(
            split=split, val_fraction=val_fraction, test_fraction=test_fraction,
            n_train=n_train, n_val=n_val, n_irrelevant=n_irrelevant, batch_size=batch_size,
            num_workers=num_workers, seed=seed, task="binary",
        )
        self.save_hyperparameters()
        self.data_dir = resolve_data_dir(data_dir, required=tuple(NHANES_FILES))
        self.horizon_years = horizon_years
        self.keep_zero_followup = bool(keep_zero_followup)
        self.download = bool(download)
        self.packaged = bool(packaged)

    def _missing_files(self) -> list[str]:
        return [name for name in NHANES_FILES if not (self.data_dir / name).is_file()]

    def prepare_data(self) -> None:
        """Make sure every file is available: in ``data_dir``, packaged, or downloaded.

        Raises :class:`~priors.data.download.DatasetNotFoundError` naming the missing paths
        when a file is nowhere and ``download=False``.
        """
        missing = self._missing_files()
        if self.packaged:
            missing = [name for name in missing if name not in packaged_names()]
        if not missing:
            return
        if not self.download:
            paths = ", ".join(str(self.data_dir / name) for name in missing)
            hints = " ".join(
                manual_download_hint(nhanes_url(name), self.data_dir / name, NHANES_FILES[name])
                for name in missing
            )
            raise DatasetNotFoundError(
                f"NHANES data not found: missing {paths}. Pass download=True to fetch it from "
                f"{NHANES_URL_BASE}, or place the files there (see data/README.md). {hints}"
            )
        for name in missing:
            nhanes_source(self.data_dir / name, download=True, packaged=False)

    def load(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The labelled NHANES rows and their 0/1 mortality labels."""
        self.prepare_data()  # downloads or raises a clear error when files are missing
        X, y_years = load_nhanes(self.data_dir, packaged=self.packaged, download=False)
        keep, labels = mortality_labels(
            y_years.to_numpy(), self.horizon_years, self.keep_zero_followup
        )
        if not keep.any():
            raise ValueError(f"No labelled patients at horizon_years={self.horizon_years}.")
        return X.loc[keep], labels[keep]

    @property
    def patient_ids(self) -> pd.Index:
        """Patient ids (index of the CSVs) of the labelled rows; ``train_idx`` etc. index it."""
        return self.state.ids
