"""Training and evaluation of the coseg family's embedded checkpoint (not imported at run time)."""
