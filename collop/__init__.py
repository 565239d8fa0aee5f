"""collop: learn plasma collision operators from particle data."""
from .schema import CollopError, SchemaError, validate
from .grid import VelocityGrid
from .io import open_dataset, write_dataset

__version__ = "0.1.0"
__all__ = ["CollopError", "SchemaError", "validate", "VelocityGrid", "open_dataset",
           "write_dataset", "__version__"]
