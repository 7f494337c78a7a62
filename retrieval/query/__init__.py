"""The query side: the ``search`` face (text, photo, product, composed, looks, picks), composed
queries (``composed``), a photo's kind-first search (``photo``) and the catalogue's values
(``vocabulary``)."""
