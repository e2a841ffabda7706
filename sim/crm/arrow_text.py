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
        cells = (arr._pa_array.combine_chunks() if hasattr(arr, "_pa_array")
                 else pa.array(np.asarray(arr, dtype=object), type=pa.string(), from_pandas=True))
        return cells.cast(pa.string()) if pa.types.is_large_string(cells.type) else cells
    except (pa.ArrowException, UnicodeError, TypeError, AttributeError):
        return None
