"""Evaluation of the agent: suites, predictors, the resumable runner (records, resume, summaries)
and its worker pool, scoring, ablations, reports, and the ``mereo eval`` command lines (``cli``)."""
