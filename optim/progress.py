"""tqdm.auto progress bars, without tqdm's "IProgress not found" warning in notebooks
where ipywidgets is absent (it falls back to a text bar either way)."""

import warnings

from tqdm import TqdmWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
