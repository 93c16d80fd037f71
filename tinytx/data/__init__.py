"""Data: batch sources for the Trainer (batches.py), dataset loading (sources.py), token streams (encode.py, lm.py),
collation and the per-recipe batch sources. Import the module you need: this package imports nothing, so
`tinytx tokenize encode` (data/encode.py) runs without loading torch."""
