"""Backtests on the live code path: strategies replayed through the platform's own services."""
