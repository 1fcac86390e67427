"""Orphan references are quarantined until their parent arrives, and the batches still reconcile."""

from datetime import date

import psycopg
from salesdw import config
from salesdw.load.batch import load_file
from salesdw.load.references import check_references

D1, D2 = date(2026, 1, 1), date(2026, 1, 2)
INVOICE_HEADER = "invoice_id,opportunity_id,account_id,invoice_date,due_date,amount,tax_amount,currency,updated_at\n"


def _load(conn, source, name, path, text, day):
    path.write_text(text)
    return load_file(conn, config.entity(source, name), path, day)


def _reconciled(conn):
    return conn.execute(
        "select bool_and(rows_read = rows_loaded + rows_rejected) from audit.load_batches where status = 'loaded'"
    ).fetchone()[0]


def test_orphans_wait_in_quarantine_for_their_parent(tmp_path, fresh_db):
    accounts = '{"account_id": "A1", "owner_rep_id": null, "created_at": "2026-01-01T00:00:00Z"}\n'
    opportunities = (
        '{"opportunity_id": "O1", "account_id": "A1", "amount": 10, "currency": "CNY", "owner_rep_id": "R1",'
        ' "product_line": "software", "stage": "proposal"}\n'
        '{"opportunity_id": "O2", "account_id": "A2", "amount": 20, "currency": "CNY", "owner_rep_id": "R1",'
        ' "product_line": "software", "stage": "proposal"}\n'  # A2 comes a day later
    )
    invoices = (
        INVOICE_HEADER + "INV1,O1,A1,2026-01-01,2026-01-31,10.00,1.30,CNY,2026-01-01T00:00:00Z\n"
        "INV2,O1,A99999,2026-01-01,2026-01-31,10.00,1.30,CNY,2026-01-01T00:00:00Z\n"  # never exists
    )
    with psycopg.connect(fresh_db) as conn:
        _load(conn, "crm", "reps", tmp_path / "r.jsonl", '{"rep_id": "R1"}\n', D1)
        _load(conn, "crm", "accounts", tmp_path / "a1.jsonl", accounts, D1)
        _load(conn, "crm", "opportunities", tmp_path / "o1.jsonl", opportunities, D1)
        _load(conn, "finance", "invoices", tmp_path / "i1.csv", invoices, D1)
        conn.commit()
        report = check_references(fresh_db, D1)
        assert report["crm__opportunities"] == {"readmitted": 0, "quarantined": 1}
        assert report["finance__invoices"] == {"readmitted": 0, "quarantined": 1}
        reasons = {r for (r,) in conn.execute("select reason from raw._rejected")}
        assert reasons == {
            "orphan reference: account_id = 'A2' was never delivered by crm.accounts",
            "orphan reference: account_id = 'A99999' was never delivered by crm.accounts",
        }
        assert conn.execute("select opportunity_id from raw.crm__opportunities").fetchall() == [("O1",)]
        assert _reconciled(conn)

        # the next day A2 arrives: O2 comes back under its own (first) batch; INV2 stays out
        _load(conn, "crm", "accounts", tmp_path / "a2.jsonl", accounts.replace("A1", "A2"), D2)
        conn.commit()
        report = check_references(fresh_db, D2)
        assert report["crm__opportunities"] == {"readmitted": 1, "quarantined": 0}
        back = conn.execute(
            "select opportunity_id, _batch_date, _origin, _line from raw.crm__opportunities order by 1"
        ).fetchall()
        assert [(o, d) for o, d, _, _ in back] == [("O1", D1), ("O2", D1)]
        assert back[1][2].endswith("o1.jsonl") and back[1][3] == 2
        assert [r for (r,) in conn.execute("select reason from raw._rejected")] == [
            "orphan reference: account_id = 'A99999' was never delivered by crm.accounts"
        ]
        assert _reconciled(conn)
        loaded = conn.execute(
            "select rows_loaded, rows_rejected from audit.load_batches where entity = 'opportunities'"
        ).fetchone()
        assert loaded == (2, 0)


def test_a_chain_of_renewals_of_an_orphan_waits_whole_and_comes_back_whole(tmp_path, fresh_db):
    """C1's account was never delivered; C2 renews C1 and C3 renews C2, in the same delivery: the
    whole chain waits (one pass would leave C3 pointing at a quarantined C2, and the feeds gate
    would stop the night), and comes back whole when the account arrives."""
    accounts = '{"account_id": "A1", "owner_rep_id": null, "created_at": "2026-01-01T00:00:00Z"}\n'
    contract = (
        '{{"contract_id": "{}", "account_id": "{}", "start_date": "2025-01-01", "end_date": "2026-12-31",'
        ' "annual_fee": 100, "currency": "CNY", "status": "active", "renewed_from_contract_id": {}}}\n'
    )
    contracts = contract.format("C1", "A2", "null") + contract.format("C2", "A1", '"C1"')
    contracts += contract.format("C3", "A1", '"C2"') + contract.format("C4", "A1", "null")
    with psycopg.connect(fresh_db) as conn:
        _load(conn, "crm", "accounts", tmp_path / "a1.jsonl", accounts, D1)
        _load(conn, "after_sales", "service_contracts", tmp_path / "c.jsonl", contracts, D1)
        conn.commit()
        report = check_references(fresh_db, D1)
        assert report["after_sales__service_contracts"] == {"readmitted": 0, "quarantined": 3}
        assert conn.execute("select contract_id from raw.after_sales__service_contracts").fetchall() == [("C4",)]
        assert _reconciled(conn)
        _load(conn, "crm", "accounts", tmp_path / "a2.jsonl", accounts.replace("A1", "A2"), D2)
        conn.commit()
        report = check_references(fresh_db, D2)
        assert report["after_sales__service_contracts"] == {"readmitted": 3, "quarantined": 0}
        back = conn.execute("select contract_id from raw.after_sales__service_contracts order by 1").fetchall()
        assert back == [("C1",), ("C2",), ("C3",), ("C4",)]
        assert conn.execute("select count(*) from raw._rejected").fetchone() == (0,)
        assert _reconciled(conn)
