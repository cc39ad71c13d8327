#!/usr/bin/env python
"""Generate the sample PDF documents in ``samples/``.

All text below is original prose written for this project and may be freely
redistributed together with it.

The output is deterministic: metadata is fixed (no creation/modification
dates, no producer string), no new file ID is generated and PyMuPDF's
``reproducible`` save mode is used, so re-running the script produces
byte-identical files with the same PyMuPDF version.

Usage::

    python scripts/make_samples.py [output_dir]

``output_dir`` defaults to ``samples/`` at the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pymupdf

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "samples"

# A4 portrait, in points.
PAGE_WIDTH, PAGE_HEIGHT = 595, 842
MARGIN = 64
HEADING_FONT = "hebo"  # Helvetica-Bold (base-14, not embedded)
BODY_FONT = "helv"  # Helvetica (base-14, not embedded)
HEADING_SIZE = 18
BODY_SIZE = 11
PARAGRAPH_GAP = 9

# Each document is a title plus a list of pages; each page is a heading
# followed by its paragraphs.
Page = tuple[str, list[str]]

LIGHTHOUSE_KEEPING: list[Page] = [
    (
        "A Short History of Lighthouse Keeping",
        [
            "People have marked dangerous coasts with fire for more than two "
            "thousand years. The Pharos of Alexandria, finished in the third "
            "century BC, carried a great fire on its summit, and for many "
            "centuries afterwards most coastal lights were little more than "
            "open braziers of wood or coal tended by whoever lived nearby. "
            "Smoke, wind and rain made them unreliable, and a light that went "
            "out on a stormy night could cost a ship and every soul aboard.",
            "The profession of lighthouse keeper took shape in the eighteenth "
            "and nineteenth centuries, when maritime trade grew and "
            "governments began to treat coastal lights as public works. In "
            "England and Wales the corporation of Trinity House took charge "
            "of most lights, Scotland had its Northern Lighthouse Board, and "
            "in the United States a federal lighthouse service appointed "
            "keepers, inspected their stations and supplied their oil.",
            "Building on exposed rocks was an engineering adventure of its "
            "own. The early towers on the Eddystone reef off Plymouth were "
            "swept away or burned, until John Smeaton's tower of dovetailed "
            "granite blocks, lit in 1759, showed that masonry could survive "
            "the open sea. Rock lighthouses like it became the model for "
            "towers all over the world.",
            "Keepers lived where the light stood. On the mainland a keeper "
            "often raised a family in a cottage beside the tower, while on "
            "offshore rocks three or four men shared a cramped tower for weeks "
            "at a time, relieved by boat when the weather allowed. Isolation, "
            "storms and the steady responsibility of the light shaped their "
            "lives.",
        ],
    ),
    (
        "The Lamp and the Lens",
        [
            "A light is only useful if it can be seen from far out at sea, "
            "and for a long time the problem was not making light but "
            "directing it. Candles and open wicks scattered their glow in "
            "every direction, including up into the sky and down onto the "
            "rocks. The Argand lamp of the 1780s, with its hollow circular "
            "wick and glass chimney, burned far brighter and cleaner, and "
            "polished parabolic reflectors placed behind each lamp pushed the "
            "beam towards the horizon.",
            "The great advance came in 1822, when the French physicist "
            "Augustin Fresnel presented a new kind of lens. Instead of one "
            "thick, heavy piece of glass, a Fresnel lens is built from "
            "concentric rings of prisms arranged around a central bullseye. "
            "The inner rings bend the light by refraction, and the outer "
            "prisms catch rays that would otherwise escape above and below "
            "and reflect them back into a narrow horizontal beam. A single "
            "modest flame could now be seen twenty miles away.",
            "Fresnel lenses were graded by size into orders. A first-order "
            "lens, used on major coastal lights, stood taller than a person "
            "and held over a thousand pieces of glass in a brass frame, while "
            "the small sixth-order lenses served harbours and rivers. Many "
            "large lenses floated on a bath of mercury so that a clockwork "
            "drive, powered by a falling weight, could turn several tonnes of "
            "glass smoothly.",
            "Rotation gave each light its character: a pattern of flashes "
            "and eclipses, such as two white flashes every fifteen seconds, "
            "that sailors could look up in a printed list of lights to "
            "identify exactly which headland they were seeing. Fuels changed "
            "from whale oil and colza oil to paraffin burned as vapour under "
            "an incandescent mantle, and finally to electricity.",
        ],
    ),
    (
        "Daily Routine and the Logbook",
        [
            "A keeper's day was organised around the hours of darkness. The "
            "lamp was lit at sunset and extinguished at sunrise, and between "
            "those times someone was always on watch in the lantern room or "
            "the watch room below it. Watches were usually four hours long, "
            "and the keeper on duty wound the clockwork, checked the flame "
            "and watched the weather.",
            "Daytime was for cleaning and maintenance. Soot from the lamp "
            "dimmed the light, so the lens was dusted and polished with soft "
            "linen, the lantern windows were washed inside and out, and "
            "every brass fitting was kept bright. Keepers were nicknamed "
            "wickies because they trimmed the lamp wicks so that they burned "
            "evenly without smoking. Curtains were drawn around the lens in "
            "daylight, because sunlight focused by the glass could scorch "
            "the burner or start a fire.",
            "When fog rolled in, the keeper started the fog signal, which "
            "might be a bell, a siren or a compressed-air horn, and kept it "
            "sounding for as long as visibility stayed poor, sometimes for "
            "days. Stores of oil, coal, fresh water and food had to be "
            "counted and rationed, especially on rock stations that could be "
            "cut off by heavy seas.",
            "Everything went into the logbook. Keepers recorded the times "
            "the light was lit and put out, the weather and visibility at "
            "each watch, the hours the fog signal ran, the oil consumed, "
            "passing ships, wrecks and rescues, and visits from the district "
            "inspector. These handwritten logbooks are now a valuable "
            "historical source for weather, shipping and daily life on the "
            "coast.",
        ],
    ),
    (
        "Automation and the Last Keepers",
        [
            "Automation began long before the last keepers left. In the "
            "early twentieth century the Swedish engineer Gustaf Dalen "
            "developed acetylene lights with a sun valve that turned the gas "
            "on at dusk and off at dawn, allowing small beacons to run "
            "unattended for months. Electrification of mainland stations "
            "followed, with automatic lamp changers that swung a fresh bulb "
            "into place when one failed.",
            "From the 1960s onwards, lighthouse authorities in many countries "
            "converted their stations one by one. Diesel generators, "
            "batteries and later solar panels powered the lights, and "
            "telemetry links reported faults to a central control room "
            "instead of to a keeper on the gallery. Radar, radio navigation "
            "and satellite positioning meant ships relied less on seeing a "
            "light at all.",
            "The final keepers in Britain left North Foreland in Kent in "
            "1998, closing a service that had lasted for centuries. Today a "
            "typical modern light is a compact array of LEDs that draws a "
            "fraction of the power of an old lamp, checked by a technician "
            "who visits a few times a year.",
            "Many former keepers' cottages are now museums, holiday lets or "
            "homes, and volunteers maintain some historic lenses that are no "
            "longer in service. The towers still stand as day marks for "
            "sailors, and the logbooks and memories of the people who kept "
            "them remain an important part of coastal heritage.",
        ],
    ),
]

SOURDOUGH_BREAD: list[Page] = [
    (
        "Sourdough Bread: Starter and Hydration",
        [
            "Sourdough bread is leavened not with packaged yeast but with a "
            "starter, a living culture of wild yeasts and lactic acid "
            "bacteria that is kept in a jar of flour and water. The yeasts "
            "produce the carbon dioxide that makes the dough rise, while the "
            "bacteria produce lactic and acetic acids that give the bread its "
            "gentle tang and help it keep longer.",
            "A new starter is made by mixing equal weights of wholemeal flour "
            "and water and feeding it once or twice a day. After about a week "
            "it should double in size within a few hours of feeding, smell "
            "pleasantly sour and be full of bubbles. A mature starter can be "
            "stored in the refrigerator and fed weekly. On baking day, a "
            "portion of it is fed separately to make the levain, the active "
            "pre-ferment that actually goes into the dough.",
            "Bakers describe doughs by their hydration: the weight of water "
            "as a percentage of the weight of flour. A dough with 1000 grams "
            "of flour and 750 grams of water is at 75 percent hydration. "
            "Lower hydration doughs, around 65 percent, are firm and easy to "
            "shape, while wetter doughs of 80 percent or more give an open, "
            "glossy crumb with large irregular holes but need practice to "
            "handle.",
            "Flour matters too. Strong white bread flour has enough protein "
            "to build a stretchy gluten network, whole wheat and rye flours "
            "absorb more water and ferment faster, and a small share of rye "
            "or spelt adds flavour. Salt, usually about two percent of the "
            "flour weight, is added after a short rest called the "
            "autolyse.",
        ],
    ),
    (
        "Fermentation, Shaping and Baking",
        [
            "Once the levain, flour, water and salt are combined, the dough "
            "goes through its bulk fermentation. Over four to six hours at "
            "room temperature, the baker gives it a series of stretches and "
            "folds every half hour or so, lifting one side of the dough and "
            "folding it over itself. This strengthens the gluten without "
            "kneading. Bulk fermentation is finished when the dough has grown "
            "by about half, feels airy and shows bubbles at the edges.",
            "The dough is then divided, pre-shaped into a loose round, "
            "rested, and shaped tightly into a boule or batard before going "
            "into a floured proofing basket. Many bakers let it proof slowly "
            "overnight in the refrigerator. This cold retard deepens the "
            "flavour, fits baking around a working day and makes the chilled "
            "dough easier to score.",
            "Sourdough is usually baked very hot, around 250 degrees Celsius, "
            "in a preheated cast-iron Dutch oven. The lid traps steam from "
            "the dough during the first twenty minutes, keeping the crust "
            "soft so the loaf can expand in a burst of oven spring. Just "
            "before baking, a quick slash with a razor blade, called scoring, "
            "controls where the loaf opens and creates the raised ear along "
            "the cut.",
            "After the lid comes off, the loaf bakes for another twenty to "
            "twenty-five minutes until the crust is deep brown and the "
            "bottom sounds hollow when tapped. It should cool on a rack for "
            "at least an hour before slicing, because the crumb is still "
            "setting as the steam escapes.",
        ],
    ),
]

DOCUMENTS: dict[str, tuple[str, list[Page]]] = {
    "lighthouse-keeping.pdf": ("Lighthouse Keeping", LIGHTHOUSE_KEEPING),
    "sourdough-bread.pdf": ("Sourdough Bread", SOURDOUGH_BREAD),
}


def _write_block(page: pymupdf.Page, top: float, text: str, fontname: str, fontsize: float) -> float:
    """Write ``text`` in a box starting at ``top``; return the y just below it."""
    rect = pymupdf.Rect(MARGIN, top, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - MARGIN)
    spare = page.insert_textbox(rect, text, fontname=fontname, fontsize=fontsize, lineheight=1.3)
    if spare < 0:
        raise ValueError(f"text does not fit on page {page.number + 1}: {text[:40]!r}...")
    return rect.y1 - spare


def build_pdf(title: str, pages: list[Page], path: Path) -> None:
    doc = pymupdf.open()
    for number, (heading, paragraphs) in enumerate(pages, start=1):
        page = doc.new_page(width=PAGE_WIDTH, height=PAGE_HEIGHT)
        y = _write_block(page, MARGIN, heading, HEADING_FONT, HEADING_SIZE) + 2 * PARAGRAPH_GAP
        for paragraph in paragraphs:
            y = _write_block(page, y, paragraph, BODY_FONT, BODY_SIZE) + PARAGRAPH_GAP
        footer = pymupdf.Rect(MARGIN, PAGE_HEIGHT - MARGIN + 16, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 24)
        page.insert_textbox(
            footer,
            f"{title} - page {number} of {len(pages)}",
            fontname=BODY_FONT,
            fontsize=8,
            align=pymupdf.TEXT_ALIGN_CENTER,
        )
    # Fixed metadata: only the title, no dates / producer / creator.
    doc.set_metadata({"title": title})
    doc.del_xml_metadata()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path, garbage=4, deflate=True, no_new_id=True, reproducible=True)
    doc.close()


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    for filename, (title, pages) in DOCUMENTS.items():
        path = out_dir / filename
        build_pdf(title, pages, path)
        print(f"wrote {path} ({path.stat().st_size} bytes, {len(pages)} pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
