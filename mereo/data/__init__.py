"""Data: SynthParts (generator, scenes, questions, exports), QA items, loaders of the real formats,
and SynthParts scenes as training arrays. Imports only the ground floor and ``knowledge``."""
