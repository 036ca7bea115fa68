"""Listening tests: A/B, MOS, CMOS — store, UI, analysis."""
