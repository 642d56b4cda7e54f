"""Fleet readiness: the soak benchmark, its SLO verdicts and report, and the cost model."""
