"""Mechanisms 6 (economy) and 7 (escalation)."""

import numpy as np

from sim import economy, escalation, territory
from sim.actors import ETHNIC_GROUPS, INDEX

JNIM, ISGS = INDEX["JNIM"], INDEX["ISGS"]
ZARMA = ETHNIC_GROUPS.index("zarma")


# ------------------------------------------------------------------ economy (seed 000)

def _income(m, name):
    from sim import engagement

    engagement.update_attitudes(m)
    m.refusal[:] = 0.0
    economy.collect_income(m)
    return m.factions[name].income


def test_taxes_scale_with_tax_rate(make_toy):
    def income(tax):
        m = make_toy(factions={"JNIM": {"strategy": {"tax_rate": tax}}, "ISGS": {}},
                     mechanisms={"economy": {"ransom_rate": 0.0}})
        return _income(m, "JNIM")

    assert income(0.3) > 2.5 * income(0.1)


def test_holding_a_gold_site_pays(make_toy):
    def income(gold_yield):
        m = make_toy(mechanisms={"economy": {"gold_yield": gold_yield, "ransom_rate": 0.0}})
        for u in m.units_of("ISGS"):
            u.pos = (13, 17)  # on the toy's gold pit
        for _ in range(10):
            territory.update_influence(m)
        assert m.share[ISGS][m.world.gold].sum() > 0.1
        return _income(m, "ISGS")

    assert income(0.05) > income(0.002) + 0.005


def test_empty_treasury_strains_and_strain_limits_operations(make_toy):
    m = make_toy(factions={"JNIM": {"treasury": 0.0}, "ISGS": {"treasury": 50.0}},
                 mechanisms={"economy": {"tax_base": 1e-6, "gold_yield": 0.005, "smuggling_yield": 0.0001,
                                         "ransom_rate": 0.0}})
    economy.collect_income(m)
    assert m.factions["JNIM"].strain > 0.9
    assert m.factions["ISGS"].strain == 0.0
    assert m.ops_factor("JNIM") < m.ops_factor("ISGS")


def test_strain_reduces_clashes(make_toy):
    forces = [{"actor": "JNIM", "near": "Midpost", "manpower": 300, "count": 2, "ethnic": {"fulani": 1.0}},
              {"actor": "ISGS", "near": "Midpost", "manpower": 300, "count": 2, "ethnic": {"fulani": 1.0}},
              {"actor": "Niger army", "near": "Eastville", "manpower": 50}]

    def clashes(strain):
        m = make_toy(seed=9, forces=forces)
        total = 0
        for _ in range(40):
            m._new_step_accumulators()
            for u in m.units_of("JNIM") + m.units_of("ISGS"):
                u.manpower = 300
            m.factions["JNIM"].strain = m.factions["ISGS"].strain = strain
            territory.resolve_clashes(m)
            total += m.clashes[JNIM, ISGS] + m.clashes[ISGS, JNIM]
        return total

    assert clashes(0.0) > 1.5 * clashes(1.0)


# ------------------------------------------------------------------ escalation (seeds 000, 001, 002, 003)

def _ruled_by_isgs(make_toy, restraint):
    forces = [{"actor": "ISGS", "near": "Eastville", "manpower": 300, "count": 2, "ethnic": {"fulani": 1.0}},
              {"actor": "FAMa", "near": "Westtown", "manpower": 100}]
    m = make_toy(seed=1, forces=forces,
                 factions={"ISGS": {"strategy": {"restraint": restraint, "tax_rate": 0.3}}})
    for _ in range(10):
        territory.update_influence(m)
    from sim import engagement

    engagement.update_attitudes(m)
    return m


def test_tax_refusal_brings_massacres_unless_restrained(make_toy):
    def massacres(restraint):
        m = _ruled_by_isgs(make_toy, restraint)
        ruled = m.ruler == ISGS
        assert ruled.any()
        killed = 0
        for _ in range(30):
            m._new_step_accumulators()
            m.refusal[ruled] = 1.0
            escalation.reprisals(m)
            killed += m.civ_killed[:, ISGS].sum()
        return killed, m

    brutal, m = massacres(0.0)
    restrained, _ = massacres(1.0)
    assert brutal > 20 and restrained == 0
    assert any("tax refusal" in r["notes"] for r in m.log.rows)
    # Zarma victims of a Fulani-based group turn against the Fulani
    fulani = [ETHNIC_GROUPS.index("fulani"), ETHNIC_GROUPS.index("fulani_tolebe")]
    assert m.polarisation[ZARMA, fulani].max() > 0


def test_polarised_militias_take_reprisals_on_fulani(make_toy):
    forces = [{"actor": "Zarma self-defence", "near": "Eastville", "manpower": 100, "count": 3, "ethnic": {"zarma": 1.0}},
              {"actor": "Niger army", "near": "Southpost", "manpower": 50}]

    def victims(polarisation):
        m = make_toy(seed=2, forces=forces)
        m.polarisation[ZARMA, 0] = polarisation
        killed = 0
        for _ in range(40):
            m._new_step_accumulators()
            escalation._militia_reprisals(m)
            killed += m.civ_killed[:, INDEX["Zarma self-defence"]].sum()
        return killed

    assert victims(0.0) == 0
    assert victims(1.0) > 10


def test_town_focus_rises_when_jihadists_outnumber_the_state(make_toy):
    m = make_toy()
    escalation.update_town_focus(m)
    weak = m.factions["JNIM"].town_focus.copy()
    for u in m.units_of("JNIM"):
        u.manpower = 3000
    escalation.update_town_focus(m)
    mali = 0
    assert m.factions["JNIM"].town_focus[mali] > weak[mali] + 0.3
    assert np.all(m.factions["JNIM"].town_focus <= 1.0)
