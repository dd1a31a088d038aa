"""Benchmarks: API calls (counted by the emulator) and wall seconds for the stack operations."""
