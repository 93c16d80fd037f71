"""Data: batch sources for the Trainer, dataset loading, token streams and collation."""
from .batches import Batch, Batches, TensorBatches

__all__ = ["Batch", "Batches", "TensorBatches"]
