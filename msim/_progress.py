"""The progress bar of long runs and calibrations: tqdm's, in terminals and notebooks alike."""

import warnings

from tqdm import TqdmWarning

with warnings.catch_warnings():
    # In Jupyter without ipywidgets, tqdm.auto warns and falls back to the text bar, which
    # works there too; the warning would only clutter every notebook that imports msim.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
