"""Objective metrics: one module per family, registered in METRICS with metadata."""
