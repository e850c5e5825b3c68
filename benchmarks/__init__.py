"""The benchmark suite of bulk_uploader (issue 6): ``python -m benchmarks``.

See ``benchmarks/README.md`` for what each measurement means.
"""
