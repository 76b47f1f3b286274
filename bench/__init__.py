"""Side-by-side benchmarks: kejin beside a peer on the same data in the same run (``make bench``)."""
