"""The cast: every armed actor the model knows, with its kind, country and social base.

The list follows DESIGN.md and the seeds: JNIM and ISGS (000), the three national
armies and their partners France and Wagner / Africa Corps (000, 002), and the
militias (000, 001, 004). The order fixes the actor axis of every array.
Ethnic groups follow ``seeds/population.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

ETHNIC_GROUPS = (
    "fulani",
    "fulani_tolebe",
    "tuareg_imghad",
    "tuareg_daoussahak",
    "tuareg_ifoghas",
    "dogon",
    "bambara",
    "zarma",
    "mossi",
    "gourmantche",
    "songhai",
    "arab",
    "other",
)
FULANI = ("fulani", "fulani_tolebe")


@dataclass(frozen=True)
class ActorInfo:
    name: str
    kind: str  # jihadist | state | partner | militia
    country: str | None  # home state for states and militias
    base: tuple[str, ...]  # ethnic groups it recruits from / claims to protect
    colour: str
    acled_name: str
    auxiliary: bool = False  # a militia under its state's command, which makes no truce of its own


CAST = (
    ActorInfo("JNIM", "jihadist", None, ("fulani", "tuareg_ifoghas", "bambara", "songhai", "arab"), "#0072B2", "JNIM: Group for Support of Islam and Muslims"),
    ActorInfo("ISGS", "jihadist", None, ("fulani", "fulani_tolebe", "tuareg_daoussahak", "arab"), "#D55E00", "Islamic State (Sahel)"),
    ActorInfo("FAMa", "state", "MLI", (), "#009E73", "Military Forces of Mali"),
    ActorInfo("Burkina army", "state", "BFA", (), "#F0E442", "Military Forces of Burkina Faso"),
    ActorInfo("Niger army", "state", "NER", (), "#56B4E9", "Military Forces of Niger"),
    ActorInfo("France", "partner", None, (), "#999999", "Military Forces of France"),
    ActorInfo("Wagner", "partner", None, (), "#660000", "Wagner Group"),
    ActorInfo("Africa Corps", "partner", None, (), "#990033", "Africa Corps"),
    ActorInfo("VDP", "militia", "BFA", ("mossi", "gourmantche", "songhai", "other"), "#CC79A7", "VDP: Volunteers for the Defense of the Homeland", auxiliary=True),
    ActorInfo("Dan Na Ambassagou", "militia", "MLI", ("dogon",), "#8C564B", "Dan Na Ambassagou"),
    ActorInfo("Dozo", "militia", "MLI", ("bambara",), "#E69F00", "Dozo Communal Militia (Mali)"),
    ActorInfo("GATIA", "militia", "MLI", ("tuareg_imghad",), "#7F7F7F", "GATIA: Imghad Tuareg and Allies Self-Defense Group"),
    ActorInfo("MSA", "militia", "MLI", ("tuareg_daoussahak",), "#BCBD22", "MSA: Movement for the Salvation of Azawad"),
    ActorInfo("CSP", "militia", "MLI", ("tuareg_ifoghas", "arab"), "#17BECF", "CSP/FLA: Azawad separatist coalition"),
    ActorInfo("Zarma self-defence", "militia", "NER", ("zarma", "songhai"), "#AEC7E8", "Zarma Communal Militia (Niger)"),
    ActorInfo("Tuareg self-defence", "militia", "NER", ("tuareg_daoussahak", "tuareg_imghad", "arab"), "#C5B0D5", "Tuareg and Arab Communal Militia (Niger)"),
)

ACTOR_NAMES = tuple(a.name for a in CAST)
INDEX = {a.name: i for i, a in enumerate(CAST)}
JIHADIST_NAMES = tuple(a.name for a in CAST if a.kind == "jihadist")
STATE_NAMES = tuple(a.name for a in CAST if a.kind == "state")
PARTNER_NAMES = tuple(a.name for a in CAST if a.kind == "partner")
MILITIA_NAMES = tuple(a.name for a in CAST if a.kind == "militia")
STATE_OF_COUNTRY = {a.country: a.name for a in CAST if a.kind == "state"}
N_ACTORS = len(CAST)
N_GROUPS = len(ETHNIC_GROUPS)
GROUP_INDEX = {g: i for i, g in enumerate(ETHNIC_GROUPS)}


def info(name: str) -> ActorInfo:
    return CAST[INDEX[name]]


def is_state_side(name: str) -> bool:
    """States, their partners and the militias they arm fight on one side."""
    return info(name).kind in ("state", "partner")
