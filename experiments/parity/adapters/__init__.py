"""Parity adapters, one module per method, each exposing ``ADAPTER`` (see ../README.md)."""
