"""Reading and writing collop datasets."""
from .netcdf import open_dataset, write_dataset, atomic_write_text

__all__ = ["open_dataset", "write_dataset", "atomic_write_text"]
