"""Regulator statistics: indicator definitions as data, computed monthly from loans and loan status."""
