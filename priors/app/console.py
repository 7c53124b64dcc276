"""What the console entry points share: quiet Lightning, one-line user errors, the thread default.

Mistakes in a command line (a missing mandatory value, an unknown key, a value of the wrong
type, an unknown config option) are the user's, not the program's: they print one line naming
the key and what is expected, and the command exits with status 2. Every other exception keeps
its traceback. ``HYDRA_FULL_ERROR=1`` shows the full traceback of both.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from typing import Callable, Optional

FULL_ERROR = "HYDRA_FULL_ERROR"


def quiet_lightning() -> None:
    """Silence Lightning's tips and adverts (litmodels/litlogger, "GPU available", "TPU
    available", the LOCAL_RANK line) and its "Seed set to" lines (the pipeline seeds twice, on
    purpose); warnings about the run itself (few batches, no workers, ...) stay."""
    for name in ("lightning.pytorch.utilities.rank_zero", "pytorch_lightning.utilities.rank_zero",
                 "lightning.fabric.utilities.seed", "lightning_fabric.utilities.seed",
                 "lightning.pytorch.accelerators.cuda", "pytorch_lightning.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("LITMODELS_DISABLE_TIP", "1")
    # The dataloader-worker hint is a tip for large data; our loaders run in-process on purpose.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # Lightning's own use of a torch API that newer torch deprecates: nothing a user can change.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def _key(err: BaseException) -> str:
    key = getattr(err, "full_key", None)
    return str(key) if key else ""


def user_error(err: BaseException) -> Optional[str]:
    """The one-line message for a mistake in the config or command line, else ``None``."""
    from hydra.errors import (ConfigCompositionException, InstantiationException,
                              MissingConfigException, OverrideParseException)
    from omegaconf.errors import (ConfigKeyError, InterpolationResolutionError,
                                  MissingMandatoryValue, OmegaConfBaseException, ValidationError)

    cause = err.__cause__ or err.__context__
    missing = re.search(r"Missing mandatory value: ([\w.\[\]]+)", str(err))
    if isinstance(err, MissingMandatoryValue) or (isinstance(err, OmegaConfBaseException)
                                                  and missing):
        key = _key(err) if isinstance(err, MissingMandatoryValue) and _key(err) else (
            missing.group(1) if missing else "a value")
        return (f"{key} is required (the config leaves it '???'); set it on the command line, "
                f"e.g. {key}=<value>")
    if isinstance(err, FileNotFoundError):  # a path given on the command line (data, run, ...)
        return " ".join(str(err).split())
    if isinstance(err, InstantiationException) and cause is not None:
        found = user_error(cause)
        if found:
            return found
        # A constructor refused a configured value: its own message says what is expected.
        if isinstance(cause, (ValueError, TypeError)):
            lines = str(err).splitlines()
            key = next((ln.split(":", 1)[1].strip() for ln in lines
                        if ln.startswith("full_key:")), "")
            target = lines[0].split("'")[1] if lines[0].count("'") >= 2 else "?"
            where = f"{key} ({target})" if key else target
            return f"{where}: {' '.join(str(cause).split())}"
        return None
    if isinstance(err, ConfigKeyError):
        return (f"unknown config key {_key(err) or str(err).splitlines()[0]!r}; check the "
                f"spelling (--cfg job lists the keys), or add a new key with '+key=value'")
    if isinstance(err, ValidationError):
        return f"{_key(err)}: {str(err).splitlines()[0]}" if _key(err) else str(err).splitlines()[0]
    if isinstance(err, InterpolationResolutionError):
        return f"{_key(err)}: {str(err).splitlines()[0]}"
    if isinstance(err, (ConfigCompositionException, OverrideParseException,
                        MissingConfigException)):
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        if isinstance(cause, OmegaConfBaseException):  # e.g. "Key 'foo' is not in struct"
            lines.append(str(cause).splitlines()[0])
        head, options = [], []
        for line in lines:  # Hydra lists a group's options one per line: join them
            if line.startswith("Config search path"):
                break
            (options if head and head[-1].endswith(":") and " " not in line else head).append(line)
        text = " ".join(head) + (" " + ", ".join(options) if options else "")
        return text if len(text) < 600 else text[:600] + " ..."
    if isinstance(err, OmegaConfBaseException):
        return f"{_key(err)}: {str(err).splitlines()[0]}" if _key(err) else str(err).splitlines()[0]
    return None


def run_app(hydra_main: Callable[[], object], name: str) -> None:
    """Run a ``@hydra.main`` function; user errors become one line on stderr and exit status 2.

    Hydra prints exceptions itself (a stripped traceback) unless ``HYDRA_FULL_ERROR=1``; it is
    set while the app runs so that the exception reaches this function, which then prints the
    full traceback only when the user asked for it.
    """
    asked = os.environ.get(FULL_ERROR) == "1"
    os.environ[FULL_ERROR] = "1"
    stderr = sys.stderr
    held = _HoldJobError(stderr) if not asked else stderr
    sys.stderr = held
    try:
        hydra_main()
    except Exception as err:  # noqa: BLE001 - classified below; bugs re-raise
        message = None if asked else user_error(err)
        sys.stderr = stderr
        if message is None:
            if held is not stderr and held.line:
                stderr.write(held.line)
            raise
        stderr.write(f"{name}: error: {message} ({FULL_ERROR}=1 shows the traceback)\n")
        sys.exit(2)
    finally:
        sys.stderr = stderr
        if not asked:
            os.environ.pop(FULL_ERROR, None)


class _HoldJobError:
    """stderr that holds back Hydra's "Error executing job with overrides: [...]" line: for a
    user error the one-line message replaces it; for any other error it is written after all."""

    PREFIX = "Error executing job with overrides:"

    def __init__(self, stream):
        self._stream = stream
        self.line = ""

    def write(self, text: str) -> int:
        if text.startswith(self.PREFIX):
            self.line += text
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):  # flush, fileno, isatty, encoding, ...: the real stream's
        return getattr(self._stream, name)
