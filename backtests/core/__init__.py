"""Pure backtest numerics: strategy configuration, the simulated clock, metrics, regimes, valuation, walk-forward."""
