"""Batch work beyond one machine: kejin's own kernels run inside Apache Spark (docs/scale.md)."""
