"""Parity harness: the authors' reference code and graphcl side by side (see README.md)."""
