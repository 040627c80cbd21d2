"""Measures any family producing images or points can use, as evaluators on their own thread
(`engine.evaluators.Evaluator`): FID / KID / precision-recall and classes covered on labelled
images (`fid.py`), mode coverage on the 2-D mixtures (`coverage.py`)."""
