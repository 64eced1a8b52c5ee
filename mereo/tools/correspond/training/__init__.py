"""Training and evaluation of the correspond family's embedded checkpoint (not imported at run time)."""
