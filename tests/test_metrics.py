"""Named metrics over plain rows (model output and ACLED exports) and their specs."""

import csv
import datetime as dt

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from sim import metrics as M
from sim.eventlog import COLUMNS, acled_actor

JNIM, ISGS, FAMA = (acled_actor(a) for a in ("JNIM", "ISGS", "FAMa"))


def ev(date, kind, a1, a2="", fatalities=0, civilian=False, notes="", assoc1=""):
    return {"event_date": date, "event_type": kind[0], "sub_event_type": kind[1], "actor1": a1, "actor2": a2,
            "assoc_actor_1": assoc1, "fatalities": fatalities,
            "civilian_targeting": "Civilian targeting" if civilian else "", "notes": notes}


BATTLE = ("Battles", "Armed clash")
ATTACK = ("Violence against civilians", "Attack")
CHANGE = ("Strategic developments", "Change to group/activity")
EVENTS = [
    ev("2019-12-31", BATTLE, JNIM, ISGS, 5),  # before the period
    ev("2020-01-01", BATTLE, JNIM, ISGS, 7),
    ev("2020-03-15", BATTLE, ISGS, JNIM, 11),  # either direction counts
    ev("2020-04-01", BATTLE, JNIM, FAMA, 20, assoc1=ISGS),  # a joint attack is no JNIM-ISGS clash
    ev("2020-05-01", ATTACK, ISGS, "Civilians (Niger)", 30, civilian=True),
    ev("2020-05-02", ATTACK, JNIM, "Civilians (Mali)", 4, civilian=True),
    ev("2020-05-03", ATTACK, FAMA, "Civilians (Mali)", 12, civilian=True),
    ev("2020-06-01", CHANGE, JNIM, ISGS, notes="40 fighters of Katiba Serma defect to ISGS"),
    ev("2020-06-08", CHANGE, ISGS, JNIM, notes="whole unit ISGS east (15 fighters) defects to JNIM"),
    ev("2020-12-31", BATTLE, JNIM, ISGS, 3),  # the period's last day is included
    ev("2021-01-01", BATTLE, JNIM, ISGS, 100),
]
HISTORY = [{"date": d, "actor": a, "area_km2": v, "manpower": v / 10}
           for d, a, v in [("2020-01-08", "JNIM", 100.0), ("2020-01-15", "JNIM", 200.0), ("2020-01-22", "JNIM", 600.0),
                           ("2020-01-08", "ISGS", 50.0)]]


def test_clashes_and_their_fatalities_in_a_period():
    assert M.clashes(EVENTS, "JNIM", "ISGS", "2020-01-01", "2020-12-31") == 3
    assert M.clash_fatalities(EVENTS, "JNIM", "ISGS", "2020-01-01", "2020-12-31") == 7 + 11 + 3
    assert M.clashes(EVENTS, "JNIM", "FAMa", "2020-01-01", "2020-12-31") == 1
    assert M.clashes(EVENTS, JNIM, [ISGS, "Islamic State (Greater Sahara)"], "2019-01-01", "2021-12-31") == 5


def test_civilian_fatalities_by_perpetrator():
    assert M.civilian_fatalities(EVENTS, "2020-01-01", "2020-12-31", "ISGS") == 30
    assert M.civilian_fatalities(EVENTS, "2020-01-01", "2020-12-31", ["JNIM", "FAMa"]) == 16
    assert M.civilian_fatalities(EVENTS, "2020-01-01", "2020-12-31") == 46
    assert M.civilian_fatalities(EVENTS, "2020-05-02", "2020-05-02", "ISGS") == 0


def test_net_defections_count_both_directions():
    assert M.net_defections(EVENTS, "JNIM", "ISGS", "2020-01-01", "2020-12-31") == 40 - 15
    assert M.net_defections(EVENTS, "ISGS", "JNIM", "2020-01-01", "2020-12-31") == 15 - 40
    assert M.net_defections(EVENTS, "JNIM", "ISGS", "2020-06-02", "2020-12-31") == -15


def test_net_defections_in_some_regions_only():
    rows = [dict(e, admin1="Mopti" if "Serma" in e["notes"] else "Sahel") for e in EVENTS]
    assert M.net_defections(rows, "JNIM", "ISGS", "2020-01-01", "2020-12-31", regions=("Mopti", "Segou")) == 40
    assert M.net_defections(rows, "JNIM", "ISGS", "2020-01-01", "2020-12-31", regions=("Sahel",)) == -15


def test_metrics_read_an_acled_export(tmp_path):
    """ACLED's CSV: strings everywhere, '15 March 2020' dates, a byte-order mark."""
    path = tmp_path / "acled.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="ignore")
        w.writeheader()
        for e in EVENTS:
            d = dt.date.fromisoformat(e["event_date"])
            w.writerow({**e, "event_date": f"{d.day} {d:%B %Y}", "fatalities": str(e["fatalities"])})
    rows = M.read_events_csv(path)
    assert rows[0]["event_date"] == "31 December 2019"
    assert M.clash_fatalities(rows, "JNIM", "ISGS", "2020-01-01", "2020-12-31") == 21
    assert M.civilian_fatalities(rows, dt.date(2020, 1, 1), dt.date(2020, 12, 31), "ISGS") == 30
    assert M.net_defections(rows, "JNIM", "ISGS", "2020-01-01", "2020-12-31") == 25


def test_series_value_and_statistics():
    assert M.series_value(HISTORY, "JNIM", "area_km2", "2020-01-15") == 200.0
    assert M.series_value(HISTORY, "JNIM", "area_km2", "2020-01-20") == 200.0  # last record on or before
    assert M.series_value(HISTORY, "JNIM", "area_km2", "2030-01-01") == 600.0
    with pytest.raises(ValueError, match="on or before"):
        M.series_value(HISTORY, "JNIM", "area_km2", "2020-01-07")
    assert M.series_stat(HISTORY, "JNIM", "area_km2", "2020-01-08", "2020-01-15") == 150.0
    assert M.series_stat(HISTORY, "JNIM", "manpower", "2020-01-01", "2020-12-31", "max") == 60.0
    dates, values = M.series(HISTORY, "ISGS", "area_km2")
    assert dates == [dt.date(2020, 1, 8)] and values == [50.0]


def test_relation_share_and_control_share():
    rel = [{"date": f"2020-01-{d:02d}", "actor_a": "JNIM", "actor_b": "ISGS", "state": s}
           for d, s in [(1, "cooperation"), (8, "tension"), (15, "war"), (22, "war")]]
    assert M.relation_share(rel, "ISGS", "JNIM", "war", "2020-01-01", "2020-01-31") == 0.5
    assert M.relation_share(rel, "JNIM", "ISGS", "war", "2020-01-01", "2020-01-08") == 0.0
    control = np.array([[0, 0], [1, -1]], dtype=np.int8)
    rasters = [(dt.date(2020, 1, 1), np.full((2, 2), -1, dtype=np.int8)), (dt.date(2020, 2, 1), control)]
    mask = np.array([[True, True], [True, False]])
    area = np.array([[1.0, 3.0], [4.0, 100.0]])
    assert M.control_share(rasters, mask, area, "JNIM", "2020-02-10") == pytest.approx(4 / 8)
    assert M.control_share(rasters, mask, area, "ISGS", "2020-02-10") == pytest.approx(4 / 8)
    assert M.control_share(rasters, mask, area, "JNIM", "2020-01-31") == 0.0


METRIC = TypeAdapter(M.Metric)


def test_control_share_over_a_list_of_regions_reads_their_union():
    from sim.geodata import load_geodata
    from sim.world import build_world

    world = build_world(load_geodata(), 0.2)
    spec = {"metric": "control_share", "actor": "ISGS", "date": "2022-06-30"}
    one = {name: METRIC.validate_python({**spec, "region": name}).mask(world) for name in ("Nord", "Sahel")}
    both = METRIC.validate_python({**spec, "region": ["Nord", "Sahel"]}).mask(world)
    assert one["Nord"].any() and one["Sahel"].any() and not (one["Nord"] & one["Sahel"]).any()
    assert (both == (one["Nord"] | one["Sahel"])).all()
    # ISGS holds all of the Nord and none of the Sahel: its share of the two is the Nord's share of their area
    control = np.where(one["Nord"], np.int8(M.INDEX["ISGS"]), np.int8(-1))
    share = M.control_share([(dt.date(2022, 1, 1), control)], both, world.area_km2, "ISGS", "2022-06-30")
    nord, sahel = world.area_km2[one["Nord"]].sum(), world.area_km2[one["Sahel"]].sum()
    assert share == pytest.approx(nord / (nord + sahel))
    with pytest.raises(ValueError, match="unknown region 'Nordd'"):
        METRIC.validate_python({**spec, "region": ["Nord", "Nordd"]}).mask(world)
    for bad in ([], ["Nord", "Nord"]):
        with pytest.raises(ValidationError, match="distinct regions"):
            METRIC.validate_python({**spec, "region": bad})


def test_metric_specs_compute_on_rows():
    class Result:
        events, history = EVENTS, HISTORY

    spec = METRIC.validate_python({"metric": "clashes", "between": ["JNIM", "ISGS"], "measure": "fatalities",
                                   "start": "2020-01-01", "end": "2020-12-31"})
    assert spec.compute(Result) == 21 and spec.dates() == (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    spec = METRIC.validate_python({"metric": "series", "actor": "JNIM", "column": "area_km2", "date": "2020-01-16"})
    assert spec.compute(Result) == 200.0
    spec = METRIC.validate_python({"metric": "civilian_fatalities", "perpetrator": "ISGS",
                                   "start": "2020-01-01", "end": "2020-12-31"})
    assert spec.perpetrator == ["ISGS"] and spec.compute(Result) == 30


@pytest.mark.parametrize("bad, message", [
    ({"metric": "series", "actor": "JNIM", "column": "area_km2"}, "needs a date"),
    ({"metric": "series", "actor": "JNIM", "column": "area_km2", "stat": "mean", "date": "2020-01-01"}, "needs start and end"),
    ({"metric": "series", "actor": "JNIM", "column": "area", "date": "2020-01-01"}, "area_km2"),
    ({"metric": "clashes", "between": ["JNIM", "IS"], "start": "2020-01-01", "end": "2020-12-31"}, "unknown actor 'IS'"),
    ({"metric": "clashes", "between": ["JNIM", "ISGS"], "start": "2021-01-01", "end": "2020-12-31"}, "before start"),
    ({"metric": "relation_share", "between": ["JNIM", "ISGS"], "state": "peace", "start": "2020-01-01",
      "end": "2020-12-31"}, "cooperation"),
    ({"metric": "net_defections", "source": "JNIM", "target": "ISGS", "start": "2020-01-01", "end": "2020-12-31",
      "extra": 1}, "Extra inputs"),
])
def test_metric_specs_reject_bad_arguments(bad, message):
    with pytest.raises(ValidationError, match=message):
        METRIC.validate_python(bad)
