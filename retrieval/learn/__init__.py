"""What is learnt from shoppers and the catalogue: purchase logs (``interactions``, ``splits``),
co-purchases (``copurchase``), complementarity (``complement``), clusters (``clusters``),
personal recommenders (``personal``, ``twostage``) and their metrics (``metrics``)."""
