"""The pqlkit benchmark: pqlkit against pandas, DuckDB and polars on the same two models.

``generate.py`` writes the data (the demo generator at scale) to Parquet; ``run.py`` times
every implementation on it and checks that they agree. See docs/benchmarks.md.
"""
