"""The build: towers (``encoders``) and their cached features (``cache``, ``embed``), the alignment
(``alignment``), the fusion's fitting (``fusion``), the kind classifier (``kinds``), Ray Data
encoding (``raydata``) and the pipeline that makes an index from a catalogue (``pipeline``)."""
