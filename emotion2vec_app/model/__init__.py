"""The model layer, the only place torch is imported: FunASR's class, where the weights come
from, the fast loader and its cache, synthetic checkpoints, fused attention, padded batches,
inference and voice activity detection. Importing this package imports nothing heavy."""
