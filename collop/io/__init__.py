"""Reading and writing collop datasets."""
from .netcdf import atomic_path, atomic_write_text, open_dataset, write_dataset

__all__ = ["open_dataset", "write_dataset", "atomic_write_text", "atomic_path"]
