"""Training and evaluation of the segment family's embedded checkpoint (not imported at run time)."""
