"""Loading CRM exports: presets round-trip simulated data, every damaged row is caught, counts always add up."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.cli import main
from sim.crm import ExportError, load
from sim.crm.synth import write_export

ROOT = Path(__file__).resolve().parents[1]
# CI keeps the public data sets at ../shared/data next to the repository (a worktree sits one level deeper)
MAVEN = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
              if (p / "data/maven-crm/sales_pipeline.csv").exists()), ROOT.parent / "shared") / "data/maven-crm/sales_pipeline.csv"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def simulated():
    return sim.simulate(sim.Scenario.preset("baseline"), seed=3).tables


def counts_add_up(result):
    for name, f in result.summary()["files"].items():
        assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"], name
        assert f["rows_rejected"] == int((result.rejected["file"] == name).sum()), name


@pytest.mark.parametrize("crm", ["salesforce", "hubspot", "pipedrive"])
def test_simulated_export_round_trips(tmp_path, simulated, crm):
    write_export(simulated, crm, tmp_path)
    res = load(tmp_path)                                   # format recognised from the header
    opp, truth = res.tables.opportunities, simulated.opportunities
    assert res.summary()["format"] == crm
    assert len(opp) == len(truth) and res.rejected.empty and res.repaired.empty
    assert (opp["outcome"].to_numpy() == truth["outcome"].to_numpy()).all()
    np.testing.assert_allclose(opp["amount"], truth["amount"], rtol=0, atol=0.005)
    closed = truth["outcome"] != "open"
    gap = (opp["closed_at"][closed] - truth["closed_at"][closed]).abs().max()
    assert gap < pd.Timedelta(days=1)                      # Salesforce exports close dates without the time
    assert opp.loc[~closed, "closed_at"].isna().all() and opp.loc[~closed, "expected_close_at"].notna().all()


def test_salesforce_history_gives_stage_stays_and_first_estimates(tmp_path, simulated):
    write_export(simulated, "salesforce", tmp_path)
    res = load(tmp_path, crm="salesforce")
    hist = res.tables.stage_history
    assert len(hist) == len(simulated.stage_history)
    np.testing.assert_allclose(res.tables.opportunities["first_estimate"], simulated.opportunities["first_estimate"], atol=0.005)
    days = (hist["exited_at"] - hist["entered_at"]).dt.total_seconds() / 86400
    truth = (simulated.stage_history["exited_at"] - simulated.stage_history["entered_at"]).dt.total_seconds() / 86400
    assert abs(days.sum() - truth.sum()) / truth.sum() < 0.01
    # a closed deal's stage is the last stage it was in, not "Closed Won"
    assert res.tables.opportunities["stage"].notna().all()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot", "pipedrive"])
def test_every_deliberately_broken_row_is_reported(tmp_path, simulated, crm):
    write_export(simulated, crm, tmp_path, seed=5, broken=18)
    res = load(tmp_path)
    damages = json.loads((tmp_path / "broken_rows.json").read_text())
    assert len(damages) == 18 + 2
    for d in damages:
        table = res.rejected if d["expect"] == "rejected" else res.repaired
        hit = table[(table["file"] == d["file"]) & (table["row"] == d["row"])]
        assert len(hit) >= 1, d
    counts_add_up(res)


def test_excel_export(tmp_path, simulated):
    write_export(simulated, "hubspot", tmp_path / "csv")
    frame = pd.read_csv(tmp_path / "csv" / "deals.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.to_excel(tmp_path / "deals.xlsx", index=False)
    res = load(tmp_path / "deals.xlsx", crm="hubspot")
    assert len(res.tables.opportunities) == len(simulated.opportunities)


def test_mapping_file_with_stage_labels(tmp_path):
    (tmp_path / "pipe.csv").write_text(
        "Deal ID;Sales Rep;Customer;Engage Date;Close Date;Deal Stage;Close Value;First Quote;Source;Region\n"
        "A1;Ann;Acme;2026-01-05;2026-03-01;Won;1.200,50 €;2.000,00 €;Referral;North\n"
        "A2;Bob;Beta;2026-01-07;;Engaging;;900,00 €;Inbound;South\n"
        "A3;Bob;Beta;2026-01-09;2026-02-01;Stalled;;;Inbound;South\n"
        "A4;Ann;Acme;2026-02-01;2026-01-01;Lost;0;500;Inbound;North\n",
        encoding="cp1252",
    )
    res = load(tmp_path / "pipe.csv", mapping=EXAMPLES / "mapping-example.yaml")
    opp = res.tables.opportunities
    assert opp["opportunity_id"].tolist() == ["A1", "A2"]
    assert opp["outcome"].tolist() == ["won", "open"]
    assert opp["stage"].tolist() == [None, "Evaluation of Options"]
    assert opp["amount"].iloc[0] == 1200.5 and opp["first_estimate"].iloc[0] == 2000.0
    assert opp["Region"].tolist() == ["North", "South"]
    reasons = dict(zip(res.rejected["row"], res.rejected["reason"]))
    assert reasons == {4: "stage label not listed in the mapping's stages", 5: "closed before it was created"}
    assert res.summary()["stages"]["Stalled"]["maps_to"].startswith("(rejected")
    assert "the mapping names column(s) the file does not have: champion (Champion)" in res.summary()["notes"][0]
    counts_add_up(res)


def test_bad_mapping_names_each_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  amonut: Value\n  stage: Stage\n")
    with pytest.raises(ExportError) as err:
        load(tmp_path, mapping=bad)
    assert "columns: unknown canonical column(s) amonut" in str(err.value)
    bad.write_text("columns:\n  stage: Stage\n")
    with pytest.raises(ExportError, match="opportunity_id is required"):
        load(tmp_path, mapping=bad)


def test_unrecognised_file_is_named(tmp_path):
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(ExportError, match="x.csv: the header"):
        load(tmp_path / "x.csv")
    with pytest.raises(ExportError, match="not a known CRM"):
        load(tmp_path / "x.csv", crm="zoho")


def test_check_command_exit_codes(tmp_path, capsys):
    assert main(["synth", "--crm", "pipedrive", "--seed", "2", "--out", str(tmp_path / "pd"), "--broken", "3"]) == 0
    assert main(["check", str(tmp_path / "pd")]) == 0
    out = capsys.readouterr().out
    assert "rows read" in out and "blank row" in out
    (tmp_path / "empty.csv").write_text("Deal - ID,Deal - Status\n,\n")
    assert main(["check", str(tmp_path / "empty.csv")]) == 1
    assert main(["check", str(tmp_path / "missing.csv")]) == 2


@pytest.mark.skipif(not MAVEN.exists(), reason="the public maven-crm data set is not available here")
def test_maven_crm_through_the_example_mapping():
    res = load(MAVEN, mapping=EXAMPLES / "maven-crm.yaml")
    s = res.summary()
    assert s["rows_read"] == 8800 == s["rows_loaded"]
    assert s["outcomes"] == {"won": 4238, "lost": 2473, "open": 2089}
    assert res.tables.opportunities["product"].notna().all()


# ---- generated messy files: rows read = loaded + rejected, always -----------------------------------------
AMOUNT_STYLES = [
    lambda v: f"{v:.2f}", lambda v: f"${v:,.2f}", lambda v: f"USD {v:,.0f}",
    lambda v: f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") + " €",   # 1.234,56 €
]
cell = st.one_of(
    st.just(""), st.just("=B2*3"), st.just("n/a"), st.text(alphabet="abcé€ ,;\"'", max_size=6),
)


@st.composite
def messy_rows(draw):
    n = draw(st.integers(1, 25))
    style = draw(st.sampled_from(AMOUNT_STYLES))
    rows, truth = [], {}
    for i in range(n):
        kind = draw(st.sampled_from(["ok", "ok", "ok", "blank", "no id", "dup", "junk amount", "bad date", "junk stage"]))
        oid = f"D{i}" if kind != "no id" else ""
        if kind == "dup" and i > 0:
            oid = f"D{draw(st.integers(0, i - 1))}"
        value = draw(st.floats(0, 1e6, allow_nan=False)).__round__(2)
        amount = style(value) if kind != "junk amount" else draw(cell)
        created = "2026-01-0" + str(draw(st.integers(1, 9))) if kind != "bad date" else draw(cell)
        stage = draw(st.sampled_from(["Closed Won", "Closed Lost", "Qualification", ""])) if kind != "junk stage" else draw(cell)
        rows.append(["", "", "", "", ""] if kind == "blank" else [oid, stage, amount, created, "Ann"])
        truth[i] = (kind, value)
    return rows, truth


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messy_rows(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]), st.sampled_from([",", ";"]))
def test_generated_messy_files_account_for_every_row(tmp_path_factory, generated, encoding, sep):
    rows, truth = generated
    frame = pd.DataFrame(rows, columns=["Opportunity ID", "Stage", "Amount", "Created Date", "Opportunity Owner"])
    path = tmp_path_factory.mktemp("messy") / "opps.csv"
    path.write_bytes(frame.to_csv(index=False, sep=sep).encode(encoding, errors="replace"))
    res = load(path, crm="salesforce")
    f = res.summary()["files"]["opps.csv"]
    assert f["rows_read"] == len(rows)
    counts_add_up(res)
    loaded = res.tables.opportunities.set_index("opportunity_id")
    once = frame["Opportunity ID"].value_counts().loc[lambda c: c == 1].index
    for i, (kind, value) in truth.items():
        oid = f"D{i}"
        if kind == "ok" and oid in once and oid in loaded.index and np.isfinite(loaded.loc[oid, "amount"]):
            assert loaded.loc[oid, "amount"] == pytest.approx(value, abs=0.51)


def test_a_deal_repeated_in_a_second_file_is_rejected_there(tmp_path):
    (tmp_path / "a.csv").write_text("Deal - ID,Deal - Status,Deal - Value\n1,Won,100\n2,Lost,50\n")
    (tmp_path / "b.csv").write_text("Deal - ID,Deal - Status,Deal - Value\n2,Open,70\n3,Open,20\n")
    res = load(tmp_path, crm="pipedrive")
    assert res.tables.opportunities["opportunity_id"].tolist() == ["1", "2", "3"]
    assert res.rejected[["file", "row", "column", "value", "reason"]].values.tolist() == [
        ["b.csv", 2, "Deal - ID", "2", "duplicate opportunity id (also in a.csv)"]]
    counts_add_up(res)


def test_mapping_with_a_history_file(tmp_path):
    (tmp_path / "deals.csv").write_text("id,status,value\nX1,won,1000\nX2,open,\n")
    (tmp_path / "moves.csv").write_text("deal,step,when\nX1,Intro,2026-01-01\nX1,Demo,2026-01-10\nX1,Signed,2026-02-01\n"
                                        "X2,Intro,2026-01-05\nX9,Intro,2026-01-06\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {opportunity_id: id, outcome: status, amount: value}\n"
                       "stages: {Intro: Needs Analysis, Demo: Evaluation of Options, Signed: won}\n"
                       "history: {columns: {opportunity_id: deal, stage: step, entered_at: when}}\n")
    res = load(tmp_path, mapping=mapping)
    hist = res.tables.stage_history
    assert hist["stage"].tolist() == ["Needs Analysis", "Evaluation of Options", "Needs Analysis"]
    assert hist["exited_at"].iloc[1] == pd.Timestamp("2026-02-01") and pd.isna(hist["exited_at"].iloc[2])
    assert res.tables.opportunities["stage"].tolist() == ["Evaluation of Options", "Needs Analysis"]
    assert res.rejected["reason"].tolist() == ["opportunity not among the loaded opportunities"]
    counts_add_up(res)
