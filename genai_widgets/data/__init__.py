"""The data layer: `get_dataset(...)` turns a name, folder, Dataset, DataLoader, tensor or toy
distribution into a `DataSource` whose batches the engine trains on."""

from ._get import get_dataset
from ._named import IMAGE_DATASETS, DatasetUnavailableError, default_root
from ._source import BatchIterator, DataSource
from ._toy import TOY_DATASETS

__all__ = [
    "IMAGE_DATASETS",
    "TOY_DATASETS",
    "BatchIterator",
    "DataSource",
    "DatasetUnavailableError",
    "default_root",
    "get_dataset",
]
