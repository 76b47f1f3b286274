"""kejin (科金): an open-source platform for sci-tech finance (科技金融)."""

__version__ = "0.1.0"
