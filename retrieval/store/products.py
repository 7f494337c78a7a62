"""The one product record every catalogue reader produces."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Attribute names (lower case) that describe how a garment looks or feels; they go into the
# canonical text in this order, before the free description.
DESCRIPTIVE_ATTRIBUTES = (
    "fabric", "material", "pattern", "print or pattern type", "sleeve length", "fit", "neck",
    "collar", "length", "closure", "occasion", "type", "sole material", "upper material",
    "waist rise", "fade", "shade", "finish",
)
MAX_DESCRIPTION_CHARS = 400


@dataclass
class Product:
    """A catalogue item. Any field but ``id`` may be missing (None / empty)."""

    id: str
    title: str = ""
    gender: str | None = None
    category: str | None = None          # master category: Apparel, Footwear, ...
    subcategory: str | None = None       # Topwear, Shoes, ...
    article_type: str | None = None      # Shirts, Casual Shoes, ...
    colour: str | None = None
    season: str | None = None
    usage: str | None = None
    year: int | None = None
    brand: str | None = None
    price: float | None = None
    description: str = ""
    composition: str = ""                # materials and care ("100% linen, machine wash")
    attributes: dict[str, str] = field(default_factory=dict)
    image_path: str | None = None        # absolute path, None when the product has no usable image
    source: str = ""                     # which reader produced it

    @property
    def has_image(self) -> bool:
        return self.image_path is not None

    @property
    def text(self) -> str:
        return canonical_text(self)

    @property
    def facts(self) -> str:
        """The canonical text without the free description: what the product *is* (title,
        category, colour, attributes, composition), for matching attribute constraints."""
        return canonical_text(self, description=False)

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())

    @property
    def captions(self) -> list[str]:
        """The ways a shopper might describe this product, for training the alignment: the
        title, its kind with the category path ("Men Navy Blue Shirts Apparel Topwear"), the
        canonical text."""
        return self.captions_with(category_path=True)

    def captions_with(self, category_path: bool) -> list[str]:
        """``captions``, the kind without the category and sub-category when not
        ``category_path`` ("Men Navy Blue Shirts")."""
        path = (self.category, self.subcategory) if category_path else ()
        kind = " ".join(dict.fromkeys(x for x in (self.gender, self.colour,
                                                  self.article_type or self.subcategory, *path)
                                      if x))
        return list(dict.fromkeys(c for c in (self.title.strip(), kind, self.text) if c))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Product:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def canonical_text(p: Product, description: bool = True) -> str:
    """Title, category fields, colour, descriptive attributes, then the (truncated) description
    and composition.

    This is the text the text tower sees for a product, so it leads with what shoppers search by.
    """
    parts: list[str] = []
    if p.title:
        parts.append(p.title.strip().rstrip(".") + ".")
    category = " ".join(x for x in (p.gender, p.article_type or p.subcategory) if x)
    if category:
        parts.append(category + ".")
    if p.colour:
        parts.append(f"Colour: {p.colour}.")
    attrs = {k.lower(): v for k, v in p.attributes.items() if v}
    for name in DESCRIPTIVE_ATTRIBUTES:
        if name in attrs:
            parts.append(f"{name.capitalize()}: {attrs[name]}.")
    for name in ("usage", "season"):
        value = getattr(p, name)
        if value:
            parts.append(f"{name.capitalize()}: {value}.")
    tail = " ".join(x for x in ((p.description if description else ""), p.composition) if x)
    if tail:
        desc = " ".join(tail.split())
        if len(desc) > MAX_DESCRIPTION_CHARS:
            desc = desc[:MAX_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + "..."
        parts.append(desc)
    return " ".join(parts)
