"""Faasm's Python API (`pyfaasm.core`) over faasm-rs's built-in module `faasm`."""
