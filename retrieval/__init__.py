"""Retrieval core: ``ingest`` (catalogues -> Product), ``encoders`` (open_clip image-text models),
``cache`` (tower features on disk), ``alignment`` (LiT training), ``fusion``, ``index`` (USearch +
SQLite), ``search`` (text / photo / product / composed queries), ``clusters``, ``build``."""
