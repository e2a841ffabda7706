"""A text column's cells as one Arrow string array, for the parsers that read whole columns with Arrow compute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def arrow_cells(text: pd.Series | pd.api.extensions.ExtensionArray | np.ndarray) -> pa.Array | None:
    """The cells as one Arrow `string` array: pandas' own Arrow buffers when it holds the column in Arrow, else
    converted from the Python objects (missing cells null). None when Arrow cannot hold them (text UTF-8 cannot
    encode, such as a lone surrogate; cells that are not text): the caller then reads them with Python."""
    arr = text.array if isinstance(text, pd.Series) else text
    try:
        cells = (one_array(arr._pa_array) if hasattr(arr, "_pa_array")
                 else pa.array(np.asarray(arr, dtype=object), type=pa.string(), from_pandas=True))
        return cells.cast(pa.string()) if pa.types.is_large_string(cells.type) else cells
    except (pa.ArrowException, UnicodeError, TypeError, AttributeError):
        return None


def one_array(cells: pa.ChunkedArray) -> pa.Array:
    """The cells as one Arrow array: the column's own when it is held in one piece (as the CSV reader's columns are,
    `sim.crm.files`), else its pieces joined (a copy)."""
    return cells.chunk(0) if cells.num_chunks == 1 else cells.combine_chunks()
