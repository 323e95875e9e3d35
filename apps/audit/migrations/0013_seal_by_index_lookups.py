"""audit_seal reads its batch and the log only through indexes, whatever the planner's statistics.

The first version let the planner choose, and with stale statistics (a growing log between
ANALYZE runs, or autovacuum off) it chose to scan the whole pending heap, dead rows included, and
to hash every MAC in the log once per batch to find replays: a sealing cost that grew with the
log. Here the batch is joined from its ids through the pending table's primary key, the MACs
already in the log are looked up with one ``= ANY`` probe of the log's unique MAC index, and the
function runs with ``enable_seqscan = off``: every statement in it touches a batch's rows out
of a table that only grows, so a sequential scan is never the right plan. Same signature, same
rights, same result: CREATE OR REPLACE keeps the grants.

The pending table's guard against UPDATE and DELETE becomes a statement trigger: its check (is
the current role the table's owner?) never depended on the row, and as a row trigger it ran once
for every event each seal deletes.
"""

import importlib

from django.db import migrations

sealer = importlib.import_module("apps.audit.migrations.0012_pending_events_and_sealer")

SEAL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_seal(p_ids bigint[], p_rejected bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public SET enable_seqscan = off AS $$
DECLARE
    v_seq bigint;
    v_hash text;
    v_macs text[];
    v_sealed_macs text[];
    v_ids bigint[] := '{{}}';
    v_seqs bigint[] := '{{}}';
    v_prevs text[] := '{{}}';
    v_hashes text[] := '{{}}';
    v_rejected bigint[] := '{{}}';
    r record;
BEGIN
    -- Whoever else appends (an inline append, a second sealer) waits: one head at a time. Only
    -- this function deletes pending rows, under this lock, so the rows read below stay put.
    PERFORM pg_advisory_xact_lock({sealer.APPEND_LOCK});
    SELECT seq, hash INTO v_seq, v_hash FROM audit_accessevent ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_hash := repeat('0', 64);
    END IF;
    v_macs := ARRAY(SELECT p.mac FROM unnest(p_ids || p_rejected) AS i(id) JOIN audit_pendingevent p ON p.id = i.id);
    -- A replayed copy of a sealed event: its MAC is already in the log (the unique index's probe).
    v_sealed_macs := ARRAY(SELECT a.mac FROM audit_accessevent a WHERE a.mac = ANY(v_macs));
    FOR r IN
        SELECT p.id,
            -- A MAC the caller found false, a second copy of a MAC in this batch, or a sealed
            -- event's MAC (the log's unique MAC would refuse it, stalling every later seal):
            -- set aside, never chained.
            p.id = ANY(p_rejected)
                OR row_number() OVER (PARTITION BY p.mac ORDER BY p.id) > 1
                OR p.mac = ANY(v_sealed_macs) AS refused,
            -- reviewsvc/audit/chain.py's body, as selectors.event_records builds it
            convert_to(concat_ws(E'\\x1f', (extract(epoch FROM p.time) * 1000000)::int8::text, p.actor_kind,
                p.actor_id, p.actor_label, p.action, coalesce(p.clip_id::text, ''), p.subject_pseudonym,
                coalesce(p.facility_id::text, ''), p.facility_name, p.client_address, p.outcome, p.reason,
                p.request_id, p.extra), 'UTF8') AS body
        FROM unnest(p_ids || p_rejected) AS i(id) JOIN audit_pendingevent p ON p.id = i.id ORDER BY p.id
    LOOP
        IF r.refused THEN
            v_rejected := v_rejected || r.id;
            RETURN NEXT r.id;
            CONTINUE;
        END IF;
        v_prevs := v_prevs || v_hash;
        v_seq := v_seq + 1;
        -- SHA-256(0x00 || 0x01 || u64be(seq) || prev_hash || body)
        v_hash := encode(sha256('\\x0001'::bytea || int8send(v_seq) || decode(v_hash, 'hex') || r.body), 'hex');
        v_ids := v_ids || r.id;
        v_seqs := v_seqs || v_seq;
        v_hashes := v_hashes || v_hash;
    END LOOP;
    -- Set-based from here: one statement per table, not one per event.
    INSERT INTO audit_rejectedevent (pending_id, {sealer.BODY_COLUMNS}, mac, rejected_at)
    SELECT p.id, {sealer.PENDING_VALUES}, p.mac, now()
    FROM unnest(v_rejected) AS i(id) JOIN audit_pendingevent p ON p.id = i.id;
    INSERT INTO audit_accessevent (seq, {sealer.BODY_COLUMNS}, prev_hash, hash, mac)
    SELECT s.seq, {sealer.PENDING_VALUES}, s.prev_hash, s.hash, p.mac
    FROM unnest(v_ids, v_seqs, v_prevs, v_hashes) AS s(id, seq, prev_hash, hash)
    JOIN audit_pendingevent p ON p.id = s.id ORDER BY s.seq;
    DELETE FROM audit_pendingevent WHERE id = ANY(v_ids || v_rejected);
END
$$;
"""

GUARD = "audit_pendingevent_no_update_delete"
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_pending_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one way out of the pending table: audit_seal, which runs as the table's owner.
    IF TG_OP = 'DELETE' AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SEAL_FUNCTION, params=None)
    schema_editor.execute(GUARD_FUNCTION, params=None)
    schema_editor.execute(f"DROP TRIGGER {GUARD} ON audit_pendingevent")
    schema_editor.execute(
        f"CREATE TRIGGER {GUARD} BEFORE UPDATE OR DELETE ON audit_pendingevent "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_refuse_change()"
    )


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(sealer.SEAL_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1), params=None)
    schema_editor.execute(sealer.PENDING_REFUSE_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1), params=None)
    schema_editor.execute(f"DROP TRIGGER {GUARD} ON audit_pendingevent")
    schema_editor.execute(next(statement for statement in sealer.TRIGGERS if GUARD in statement))


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0012_pending_events_and_sealer"),
    ]

    operations = [
        migrations.RunPython(install, uninstall, elidable=False),
    ]
