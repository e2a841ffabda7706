"""Activity exports next to opportunities: Salesforce Task/Event, HubSpot meetings/calls, call recordings and
mapped files, every row loaded or rejected with a reason (rows read = loaded + rejected), bad values repaired
and listed, and the meeting analyses giving the same answers on an export as on the simulation it came from.
Every fixture is written here, into tmp_path."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.analysis import meetings as m
from sim.core import schema
from sim.crm import ExportError, load, synth
from sim.crm import activities as A

load_module = importlib.import_module("sim.crm.load")   # `sim.crm.load` is also the name of the function

OPP_A, OPP_B = "006000000000001AAA", "006000000000002AAA"


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def salesforce_folder(tmp: Path) -> Path:
    write(tmp / "opportunities.csv", f"""
Opportunity ID,Opportunity Name,Account Name,Stage,Amount,Created Date,Close Date
{OPP_A},Acme deal,Acme,Closed Won,"$12,000.00",1/5/2026,3/1/2026
{OPP_B},Globex deal,Globex,Closed Lost,"$8,000.00",1/7/2026,2/20/2026
""")
    write(tmp / "Task.csv", f"""
Id,WhatId,AccountId,Subject,ActivityDate,Status,Type,CallDurationInSeconds
00T1,{OPP_A},001A,Discovery call,2026-01-06,Completed,Call,300
00T2,{OPP_A[:15]},001A,Follow-up call,2026-01-20,Completed,Call,abc
00T3,001000000000009AAA,,Account check-in,2026-02-01,Completed,Call,60
00T4,006999999999999AAA,001B,Call,2026-01-08,Completed,Call,120
00T5,{OPP_B},001B,Call,not a date,Completed,Call,120
,,,,,,,
""")
    write(tmp / "Event.csv", f"""
Id,WhatId,AccountId,Subject,Type,ActivityDate,StartDateTime,EndDateTime,DurationInMinutes
00U1,{OPP_A},001A,Lunch at Acme,Meeting,2026-01-09,2026-01-09T12:00:00.000Z,2026-01-09T13:00:00.000Z,60
00U2,{OPP_B},001B,No-show: Video call,Meeting,2026-01-10,2026-01-10T15:00:00.000Z,2026-01-10T15:30:00.000Z,30
00U3,{OPP_B},001B,Video call,Meeting,2026-01-17,2026-01-17T15:00:00.000Z,2026-01-17T15:45:00.000Z,45
""")
    return tmp


def test_salesforce_tasks_and_events_load_next_to_the_opportunities(tmp_path):
    res = load(salesforce_folder(tmp_path), crm="salesforce")
    summary = res.summary()
    files = summary["files"]
    assert files["Task.csv"]["rows_read"] == 6 and files["Task.csv"]["rows_loaded"] == 3
    assert files["Event.csv"]["rows_read"] == 3 and files["Event.csv"]["rows_loaded"] == 3
    for f in files.values():
        assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"]
    assert summary["rows_read"] == summary["rows_loaded"] + summary["rows_rejected"]
    assert summary["activity_rows"] == 6

    acts = res.tables.activities
    schema.validate(acts, "activities")
    task = acts[acts["duration_minutes"].eq(5.0)].iloc[0]
    assert task["opportunity_id"] == OPP_A and task["kind"] == "call" and task["account_id"] == "Acme"
    assert (acts["opportunity_id"] == OPP_A).sum() == 3          # the 15-character WhatId matched too
    account_level = acts[acts["opportunity_id"].isna()]
    assert account_level["account_id"].tolist() == ["001000000000009AAA"]
    lunch = acts[acts["kind"] == "lunch"].iloc[0]
    assert lunch["duration_minutes"] == 60 and lunch["outcome"] == "held"
    assert acts.loc[acts["opportunity_id"] == OPP_B, "outcome"].tolist() == ["no-show", "held"]

    rejected = res.rejected[res.rejected["file"] == "Task.csv"].set_index("row")["reason"].to_dict()
    assert rejected == {5: "opportunity not among the loaded opportunities", 6: "not a date in any layout the loader reads",
                        7: "blank row"}
    repaired = res.repaired[res.repaired["file"] == "Task.csv"]
    assert repaired[["row", "column", "value"]].values.tolist() == [[3, "CallDurationInSeconds", "abc"]]


def hubspot_folder(tmp: Path) -> Path:
    write(tmp / "deals.csv", """
Record ID,Deal Name,Associated Company,Deal Stage,Amount,Create Date,Close Date
101,Deal 1,Initech,Closed Won,5000,2026-01-05 09:00,2026-03-01 09:00
102,Deal 2,Hooli,Closed Lost,7000,2026-01-06 09:00,2026-02-01 09:00
""")
    write(tmp / "meetings.csv", """
Record ID,Meeting name,Activity date,Meeting start time,Meeting end time,Meeting outcome,Associated Deal IDs
1,Intro,2026-01-07 10:00,2026-01-07 10:00,2026-01-07 10:45,Completed,101
2,Demo,2026-01-08 10:00,2026-01-08 10:00,2026-01-08 11:00,No show,102
3,Demo again,2026-01-15 10:00,2026-01-15 10:00,2026-01-15 09:00,Canceled,102;101
""")
    write(tmp / "calls.csv", """
Record ID,Call title,Activity date,Call duration,Call outcome,Associated Deal IDs
9,Check-in,2026-01-09 16:00,120000,Connected,101
10,Check-in,2026-01-10 16:00,,No answer,102
""")
    return tmp


def test_hubspot_meetings_and_calls(tmp_path):
    res = load(hubspot_folder(tmp_path), crm="hubspot")
    acts = res.tables.activities.sort_values("at")
    assert acts["kind"].tolist() == ["meeting", "demo", "call", "call", "demo"]     # a subject saying demo refines it
    assert acts["outcome"].tolist() == ["held", "no-show", "held", "no answer", "cancelled"]
    assert acts["duration_minutes"].tolist()[:3] == [45.0, 60.0, 2.0]          # end - start; 120000 ms
    assert acts["opportunity_id"].tolist()[-1] == "102"                         # the first of two deals
    assert acts["account_id"].tolist()[0] == "Initech"
    reasons = res.repaired.set_index(["file", "row"])["reason"].to_dict()
    assert reasons[("meetings.csv", 4)].startswith("several deals named") or "ends before" in reasons[("meetings.csv", 4)]
    assert len(res.repaired[res.repaired["file"] == "meetings.csv"]) == 2      # two deals, and an end before the start


def test_call_recordings_with_talk_ratio_and_speakers(tmp_path):
    opps = pd.DataFrame({"opportunity_id": ["D1", "D2"], "account_id": ["Acme", "Globex"]})
    path = write(tmp_path / "gong.csv", """
Call ID,CRM Opportunity ID,Title,Started,Duration,Talk Ratio,Questions Asked,External Participants,External Speakers
c1,D1,Discovery,2026-01-05 10:00,0:32:30,57%,11,4,3
c2,D2,Review,2026-01-06 10:00,1:05:00,72%,3,3,5
c3,D2,Follow-up,2026-01-07 10:00,0:20:00,130%,2,2,1
c4,D9,Stray,2026-01-08 10:00,0:20:00,40%,2,2,1
""")
    got = A.read_activities(path, opportunities=opps)
    acts = got.table.set_index("questions")
    assert acts.loc[11, "customer_talk_share"] == pytest.approx(0.43)
    assert acts.loc[11, "duration_minutes"] == pytest.approx(32.5) and acts.loc[3, "duration_minutes"] == 65
    assert acts.loc[11, ["attendees", "attendees_spoke"]].tolist() == [4, 3]
    assert pd.isna(acts.loc[3, "attendees_spoke"]) and pd.isna(acts.loc[2, "customer_talk_share"])
    assert set(got.table["kind"]) == {"call"} and got.table["account_id"].tolist() == ["Acme", "Globex", "Globex"]
    assert got.rejected["reason"].tolist() == ["opportunity not among the loaded opportunities"]
    assert sorted(got.repaired["reason"]) == ["more speakers than attendees; left empty", "talk share above 100%; left empty"]
    assert got.files[0].rows_read == 4 and got.files[0].rows_loaded == 3


def test_a_customer_talk_share_in_fractions_is_kept(tmp_path):
    path = write(tmp_path / "calls.csv", """
Opportunity ID,Date,Customer Talk Ratio,Questions
D1,2026-01-05,0.6,4
D1,2026-01-09,0.35,
""")
    acts = A.read_activities(path).table
    assert acts["customer_talk_share"].tolist() == [0.6, 0.35]
    assert acts["questions"].isna().tolist() == [False, True]


def test_any_other_file_through_an_activity_mapping(tmp_path):
    path = write(tmp_path / "our-meetings.csv", """
Deal;Met on;Format;Hours;People;Spoke;Rep talk
X1;05/01/2026;Lunch;1,5;5;4;40
X2;07/01/2026;Zoom;0,5;2;2;70
""")
    mapping = {"columns": {"opportunity_id": "Deal", "at": "Met on", "kind": "Format", "duration": "Hours",
                           "attendees": "People", "attendees_spoke": "Spoke", "rep_talk_share": "Rep talk"},
               "duration_unit": "hours", "date_format": "%d/%m/%Y"}
    acts = A.read_activities(path, mapping=mapping).table
    assert acts["kind"].tolist() == ["lunch", "video"]
    assert acts["at"].dt.month.tolist() == [1, 1] and acts["at"].dt.day.tolist() == [5, 7]
    assert acts["duration_minutes"].tolist() == [90.0, 30.0]
    assert acts["customer_talk_share"].tolist() == pytest.approx([0.6, 0.3])


def test_a_bad_activity_mapping_names_every_problem(tmp_path):
    bad = {"columns": {"deal": "Deal", "when": "Date"}, "duration_unit": "fortnights", "colour": "red"}
    with pytest.raises(ExportError) as err:
        A.read_activity_mapping(bad)
    text = str(err.value)
    for words in ("unknown key(s) colour", "unknown field(s) deal, when", "at is required",
                  "opportunity_id or account_id is required", "duration_unit: 'fortnights'"):
        assert words in text
    path = write(tmp_path / "m.yaml", "columns: [a, b\n")
    with pytest.raises(ExportError, match="not valid YAML"):
        A.read_activity_mapping(path)


def test_an_unknown_activity_file_is_named(tmp_path):
    path = write(tmp_path / "notes.csv", "Note,Written\nhello,2026-01-01\n")
    with pytest.raises(ExportError, match="notes.csv: the header .* is not a known activity export"):
        A.read_activities(path)


def test_rejected_and_repaired_rows_have_the_loaders_shape():
    assert A.ISSUE_COLUMNS == load_module.ISSUE_COLUMNS
    assert A.FileReport is load_module.FileReport   # one account of a file, whichever loader read it


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_analyses_agree_on_a_simulated_export_and_on_the_simulation(tmp_path, crm):
    """The simulator's meetings written as the CRM and a call recorder would export them, loaded back: the
    meeting analyses give the same counts (talk ratios are exported in whole percent)."""
    tables = sim.simulate(sim.Scenario.preset("meetings"), seed=3).tables
    synth.write_export(tables, crm, tmp_path)
    loaded = load(tmp_path, crm=crm).tables
    digits = tables.opportunities["opportunity_id"].str.replace(r"\D", "", regex=True)
    export_ids = ("006" + digits.str.zfill(12) + "AAA") if crm == "salesforce" else (9_000_000_000 + digits.astype("int64")).astype(str)
    ids = dict(zip(tables.opportunities["opportunity_id"], export_ids))      # as sim.crm.synth writes them
    assert set(ids.values()) == set(loaded.opportunities["opportunity_id"])
    for name, (frame, how) in A.export_files(tables.activities, crm, ids).items():
        frame.to_csv(tmp_path / name, index=False, encoding=how.get("encoding", "utf-8"))
    loaded = load(tmp_path, crm=crm).tables
    assert len(loaded.activities) == len(tables.activities) + tables.activities["customer_talk_share"].notna().sum()
    pd.testing.assert_frame_equal(m.win_rate_by_first_meeting_attendees(loaded),
                                  m.win_rate_by_first_meeting_attendees(tables))
    pd.testing.assert_frame_equal(m.first_meeting_formats(loaded)[["deals", "won", "bookings", "show_rate"]],
                                  m.first_meeting_formats(tables)[["deals", "won", "bookings", "show_rate"]])
    ours = m.first_conversations(tables)["rep_talk_share"].rename(index=ids)
    theirs = m.first_conversations(loaded)["rep_talk_share"]
    assert (theirs.reindex(ours.index) - ours).abs().max() <= 0.005 + 1e-9
