"""Training phrasings for the turn model: templates of every intent, with slot fillers and the
screen they are said in.

A template maps each context it can be said in (``none``: nothing on screen; ``listing``: results
shown; ``focus``: results shown and one product looked at; ``product``: one product open without
a listing, as on a shop's product page; ``photo``: a photo sent with the turn) to the intent it
has there ("blue ones" refines the listing into a filter, but is a search on an
empty screen). The evaluation's conversations (``eval/data/dialogue_test.txt``) were written apart
from these templates and are never read here."""
from __future__ import annotations

import random
from dataclasses import dataclass

CONTEXTS = ("none", "listing", "focus", "product", "photo")

FILLERS = {
    "type": ["shirts", "t-shirts", "tshirts", "jeans", "trousers", "shorts", "track pants", "kurtas",
             "kurtis", "sarees", "dresses", "tops", "skirts", "jackets", "sweaters", "sweatshirts",
             "casual shoes", "sports shoes", "formal shoes", "heels", "flats", "sandals",
             "flip flops", "sneakers", "boots", "watches", "handbags", "backpacks", "wallets",
             "belts", "sunglasses", "caps", "socks", "briefs", "bras", "earrings", "necklaces",
             "perfumes", "deodorants", "ties", "scarves", "leggings", "capris", "tunics", "blazers",
             "nightdress", "trunks", "clutches", "bracelets", "lipstick", "nail polish", "tees",
             "trainers", "purses", "specs", "jumpers", "hoodies", "polo shirts", "chinos"],
    "colour": ["black", "white", "navy blue", "navy", "blue", "red", "maroon", "green", "olive",
               "grey", "gray", "brown", "beige", "pink", "purple", "yellow", "orange", "cream",
               "silver", "gold", "tan", "teal", "khaki", "charcoal", "peach", "lavender", "magenta",
               "off white", "mustard", "turquoise blue", "burgundy", "rust", "coffee brown"],
    "gender": ["for men", "for women", "for boys", "for girls", "for my husband", "for my wife",
               "for my son", "for my daughter", "for my dad", "for my mom", "for kids", "mens",
               "womens", "for him", "for her", "for a boy", "for ladies", "for gents", "unisex"],
    "material": ["linen", "cotton", "denim", "silk", "wool", "leather", "polyester", "suede",
                 "velvet", "chiffon", "georgette", "satin", "rayon", "corduroy", "fleece"],
    "pattern": ["striped", "checked", "solid", "printed", "floral", "polka dot", "plain",
                "self design", "colourblocked", "embroidered", "graphic"],
    "sleeve": ["short sleeves", "long sleeves", "full sleeves", "half sleeves", "sleeveless",
               "three-quarter sleeves"],
    "price": ["500", "999", "1000", "1500", "2000", "2500", "3000", "5000", "1k", "2k", "3k",
              "rs 800", "rs. 1200", "₹1500", "1,999", "4000 rupees"],
    "nth": ["first", "second", "third", "fourth", "fifth", "sixth", "1st", "2nd", "3rd", "last",
            "#1", "#2", "#3", "#4", "number 2", "number 5", "item 3", "option 4"],
    "occasion": ["office", "a wedding", "the gym", "a party", "college", "a date", "the beach",
                 "an interview", "running", "festive season", "everyday wear", "travel"],
}
SLOT_OF = {"type": "type", "colour": "colour", "gender": "value", "material": "change",
           "pattern": "change", "sleeve": "change", "price": "price"}

# (intent by context, templates); None: the template is not said in that context.
TEMPLATES: list[tuple[dict, list[str]]] = [
    (dict.fromkeys(CONTEXTS, "search"), [
        "show me {type}", "{colour} {type}", "{type} {gender}", "{colour} {type} {gender}",
        "i need {type} {gender}", "looking for {colour} {type}", "find me {material} {type}",
        "{pattern} {type} {gender} under {price}", "any {type} below {price}",
        "search {colour} {type}", "i want to buy {type}", "do you sell {type}",
        "get me some {pattern} {type}", "{type} for {occasion}", "{gender} {type} for {occasion}",
        "i'm after {colour} or {colour} {type}", "{type} between {price} and {price}",
        "shopping for {type} {gender}", "can you find {colour} {material} {type}",
        "need new {type}", "{type} with {sleeve}", "what {type} do you have",
        "got any {type}", "hey, looking for {type} {gender} around {price}",
        "hello! i need {colour} {type} for {occasion}", "{type} pls", "{tpyo} {gender}",
        "something to wear for {occasion}", "gift ideas {gender}", "birthday gift {gender}",
    ]),
    ({"none": "search", "listing": "filter", "focus": "filter", "photo": "search"}, [
        "only {colour}", "just the {colour} ones", "{colour} ones", "in {colour} please",
        "what about {colour}", "how about {colour} instead", "under {price}", "below {price} only",
        "anything under {price}?", "less than {price}", "max {price}", "{gender} only",
        "only {gender}", "show {colour} or {colour}", "between {price} and {price}",
        "{colour} ones under {price}", "any in {colour}?", "can i see {colour} ones",
        "make it {colour}", "within {price}", "budget is {price}", "{colour} instead",
        "and {gender}", "prefer {colour}", "over {price}", "something in {colour}",
        "something in {colour} or {colour}", "anything in {colour} maybe",
    ]),
    ({"listing": "refine", "focus": "refine", "product": "refine", "photo": "refine"}, [
        "do you have it in {colour}", "do you have this in {material}?", "a {colour} version of this",
        "same style in {colour} please", "can i get this with {sleeve}", "is there a {material} one like this",
        "like this but {pattern}", "like the {nth} one but in {colour}", "this but with {sleeve}",
        "same but {material}", "similar but in {colour}", "the {nth} one in {material}",
        "like that but cheaper", "this but cheaper", "same as the {nth} one but {pattern}",
        "is this available in {colour}?", "does it come in {colour}", "now in {colour}",
        "but {pattern}", "can it be {material} instead", "the {nth} but {colour}",
        "i like it but want {sleeve}", "want this in {pattern}", "something like it but cheaper",
        "similar to the {nth} but with {sleeve}", "it in {colour}?", "{colour} for that one",
        "make that one {colour}",
    ]),
    ({"listing": "similar_to", "focus": "similar_to", "product": "similar_to", "photo": "similar_to"}, [
        "more like this", "more like the {nth} one", "similar to the {nth}", "show similar ones",
        "something like this", "anything similar?", "alternatives to the {nth} one",
        "others like that", "similar items", "like the {nth} one", "find more like it",
        "show me similar to this", "more of these", "like #{n}", "more {type} like it",
        "{nth} looks ok, more of those", "{nth} is nice, show more like that",
    ]),
    ({"listing": "complete_look", "focus": "complete_look", "product": "complete_look",
      "photo": "complete_look"}, [
        "what goes with it", "what goes with the {nth} one", "complete the look",
        "what {type} go with this", "what should i wear with it", "pair it with {type}",
        "complete the outfit", "what matches this", "{type} to match the {nth} one",
        "style this for me", "what would go well with this", "build an outfit around the {nth}",
        "which {type} goes with it", "suggest {type} for this outfit", "to wear with that",
    ]),
    ({"none": "search"}, [
        "{type} to go with {type}", "what goes with {colour} {type}", "{type} to match a {colour} {type}",
    ]),
    ({"listing": "explain", "focus": "explain", "product": "explain", "photo": "explain"}, [
        "why this one", "why the {nth} one?", "explain the {nth}", "why did you pick it",
        "what's the reason for the {nth}", "how come this matches", "why is this here",
        "explain why", "why that", "reason for showing #{n}",
    ]),
    ({"listing": "compare", "focus": "compare"}, [
        "compare the {nth} and the {nth}", "compare the first two", "difference between #{n} and #{n}",
        "{nth} vs {nth}", "compare them", "compare this with the {nth}", "how is the {nth} different from the {nth}",
        "compare the top three", "put {nth} and {nth} side by side",
    ]),
    ({"listing": "show_cluster", "focus": "show_cluster"}, [
        "show the group of the {nth} one", "its group", "same collection as this",
        "more from this group", "show me that cluster", "the collection of the {nth}",
    ]),
    ({"listing": "exclude", "focus": "exclude"}, [
        "not the {nth} one", "not that", "don't like this", "remove it", "hide the {nth}",
        "no more of that", "don't show me that one", "not this one", "i don't want that",
        "drop the {nth} one", "remove the {nth}", "get rid of that one",
    ]),
    ({"listing": "select", "focus": "select"}, [
        "the {nth} one", "{nth}", "show me the {nth}", "open #{n}", "tell me about the {nth} one",
        "number {n}", "that one", "the {nth} please", "more about the {nth}",
        "let me look at the {nth}", "can i see the {nth} one", "view {nth}", "lemme check the {nth}",
    ]),
    (dict.fromkeys(CONTEXTS, "recommend_for_user"), [
        "recommend something for me", "what would i like", "suggest something based on my history",
        "picks for me", "any recommendations?", "based on what i viewed",
    ]),
    (dict.fromkeys(CONTEXTS, "reset"), [
        "start over", "reset", "clear everything", "forget it", "start again", "clear all filters",
        "let's start from scratch", "new search",
    ]),
    (dict.fromkeys(CONTEXTS, "help"), [
        "hi", "hello", "hey there", "good morning", "thanks", "thank you", "ok", "cool",
        "great thanks", "what can you do", "help", "how does this work", "bye", "awesome",
    ]),
]


@dataclass(frozen=True)
class Phrasing:
    text: str
    intent: str
    context: str
    slots: frozenset      # which kinds of slot the text names ("type", "colour", "value", ...)


def typo(word: str, rng: random.Random) -> str:
    """One dropped or swapped letter, as shoppers type."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def fill(template: str, rng: random.Random) -> tuple[str, frozenset]:
    slots = set()
    out = template
    while "{" in out:
        start = out.index("{")
        name = out[start + 1:out.index("}", start)]
        if name == "n":
            value = str(rng.randint(1, 6))
        elif name == "tpyo":
            value, name = typo(rng.choice(FILLERS["type"]), rng), "type"
        else:
            value = rng.choice(FILLERS[name])
        if name in SLOT_OF:
            slots.add(SLOT_OF[name])
        out = out[:start] + value + out[out.index("}", start) + 1:]
    if rng.random() < 0.3:
        out = out.capitalize()
    if rng.random() < 0.2:
        out += rng.choice(["?", "!", ".", " pls", " please"])
    return out, frozenset(slots)


def phrasings(per_template: int = 12, seed: int = 0) -> list[Phrasing]:
    """Every template filled ``per_template`` times in each context it can be said in."""
    rng = random.Random(seed)
    out = []
    for by_context, templates in TEMPLATES:
        for template in templates:
            for context, intent in by_context.items():
                for _ in range(per_template):
                    text, slots = fill(template, rng)
                    out.append(Phrasing(text, intent, context, slots))
    return out
