"""The shared image encoder of the embedded tools (see :mod:`mereo.tools.encoder.model`)."""
