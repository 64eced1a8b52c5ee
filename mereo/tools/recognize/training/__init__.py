"""Training and evaluation of the recognize family's embedded checkpoint (not imported at run time)."""
