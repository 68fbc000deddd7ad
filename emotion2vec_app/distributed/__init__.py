"""Scale-out on Ray (optional: `pip install .[distributed]`).

`batch_job`: a Ray Data pipeline over a corpus, decoding on CPU tasks and analysing on a pool
of model actors (GPU fractions configurable), written as Parquet or JSON Lines, resumable.
Ray is imported only inside this package.
"""
