"""Pending events and the sealer: appends take no lock; one leader sequences and chains them.

``event_record`` (PostgreSQL) inserts an event into ``audit_pendingevent`` in the caller's
transaction. The sealer (apps/audit/sealing.py) verifies each committed pending event's MAC and
calls ``audit_seal``, which in one transaction moves the good ones into ``audit_accessevent``
with the next ``seq`` and chain hash, and the bad ones into ``audit_rejectedevent``. The function
runs with its owner's rights (SECURITY DEFINER): the application role may only read and insert
pending rows, never delete or edit them (docs/AUDIT.md, "Sealing").
"""

from django.db import migrations, models

import apps.audit.models

APPEND_LOCK = 0x7265766965770001
BODY_COLUMNS = (
    "time, actor_kind, actor_id, actor_label, action, clip_id, subject_pseudonym, facility_id, "
    "facility_name, client_address, outcome, reason, request_id, extra"
)

PENDING_VALUES = ", ".join(f"p.{column.strip()}" for column in BODY_COLUMNS.split(","))
SEAL_FUNCTION = f"""
CREATE FUNCTION audit_seal(p_ids bigint[], p_rejected bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_seq bigint;
    v_hash text;
    v_ids bigint[] := '{{}}';
    v_seqs bigint[] := '{{}}';
    v_prevs text[] := '{{}}';
    v_hashes text[] := '{{}}';
    v_rejected bigint[] := '{{}}';
    r record;
BEGIN
    -- Whoever else appends (an inline append, a second sealer) waits: one head at a time. Only
    -- this function deletes pending rows, under this lock, so the rows read below stay put.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK});
    SELECT seq, hash INTO v_seq, v_hash FROM audit_accessevent ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_hash := repeat('0', 64);
    END IF;
    FOR r IN
        SELECT p.id,
            -- A MAC the caller found false, or a second copy of a MAC (a replayed row, which the
            -- log's unique MAC would refuse, stalling every later seal): set aside, never chained.
            p.id = ANY(p_rejected)
                OR row_number() OVER (PARTITION BY p.mac ORDER BY p.id) > 1
                OR EXISTS (SELECT 1 FROM audit_accessevent a WHERE a.mac = p.mac) AS refused,
            -- reviewsvc/audit/chain.py's body, as selectors.event_records builds it
            convert_to(concat_ws(E'\\x1f', (extract(epoch FROM p.time) * 1000000)::int8::text, p.actor_kind,
                p.actor_id, p.actor_label, p.action, coalesce(p.clip_id::text, ''), p.subject_pseudonym,
                coalesce(p.facility_id::text, ''), p.facility_name, p.client_address, p.outcome, p.reason,
                p.request_id, p.extra), 'UTF8') AS body
        FROM audit_pendingevent p WHERE p.id = ANY(p_ids) OR p.id = ANY(p_rejected) ORDER BY p.id
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
    INSERT INTO audit_rejectedevent (pending_id, {BODY_COLUMNS}, mac, rejected_at)
    SELECT p.id, {PENDING_VALUES}, p.mac, now() FROM audit_pendingevent p WHERE p.id = ANY(v_rejected);
    INSERT INTO audit_accessevent (seq, {BODY_COLUMNS}, prev_hash, hash, mac)
    SELECT s.seq, {PENDING_VALUES}, s.prev_hash, s.hash, p.mac
    FROM unnest(v_ids, v_seqs, v_prevs, v_hashes) AS s(id, seq, prev_hash, hash)
    JOIN audit_pendingevent p ON p.id = s.id ORDER BY s.seq;
    DELETE FROM audit_pendingevent WHERE id = ANY(v_ids) OR id = ANY(v_rejected);
END
$$;
"""
SEAL_SIGNATURE = "audit_seal(bigint[], bigint[])"

PENDING_REFUSE_FUNCTION = """
CREATE FUNCTION audit_pending_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one way out of the pending table: audit_seal, which runs as the table's owner.
    IF TG_OP = 'DELETE' AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

TRIGGERS = (
    "CREATE TRIGGER audit_pendingevent_no_update_delete BEFORE UPDATE OR DELETE ON audit_pendingevent "
    "FOR EACH ROW EXECUTE FUNCTION audit_pending_refuse_change()",
    "CREATE TRIGGER audit_pendingevent_no_truncate BEFORE TRUNCATE ON audit_pendingevent "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_rejectedevent_no_update_delete BEFORE UPDATE OR DELETE ON audit_rejectedevent "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_rejectedevent_no_truncate BEFORE TRUNCATE ON audit_rejectedevent "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
)


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(PENDING_REFUSE_FUNCTION, params=None)
    schema_editor.execute(SEAL_FUNCTION, params=None)
    # Functions are executable by PUBLIC by default; grant_app_role grants this one to the app.
    schema_editor.execute(f"REVOKE ALL ON FUNCTION {SEAL_SIGNATURE} FROM PUBLIC")
    for statement in TRIGGERS:
        schema_editor.execute(statement)


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP FUNCTION {SEAL_SIGNATURE}")
    # The pending table's row trigger with it; the other triggers go with their tables, which the
    # reversed CreateModel operations drop next.
    schema_editor.execute("DROP FUNCTION audit_pending_refuse_change() CASCADE")


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0011_siem_cursor'),
    ]

    operations = [
        migrations.CreateModel(
            name='PendingEvent',
            fields=[
                ('time', models.DateTimeField()),
                ('actor_kind', models.CharField(max_length=16)),
                ('actor_id', models.CharField(blank=True, max_length=64)),
                ('actor_label', models.CharField(blank=True, max_length=150)),
                ('action', models.CharField(max_length=64)),
                ('clip_id', models.UUIDField(blank=True, null=True)),
                ('subject_pseudonym', models.CharField(blank=True, max_length=64)),
                ('facility_id', models.IntegerField(blank=True, null=True)),
                ('facility_name', models.CharField(blank=True, max_length=150)),
                ('client_address', models.CharField(blank=True, max_length=64)),
                ('outcome', models.CharField(choices=[('granted', 'Granted'), ('denied', 'Denied')], max_length=8)),
                ('reason', models.CharField(blank=True, max_length=64)),
                ('request_id', models.CharField(blank=True, max_length=64)),
                ('extra', apps.audit.models.CanonicalJSONField(blank=True, default=dict)),
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('mac', models.CharField(max_length=96)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='RejectedEvent',
            fields=[
                ('time', models.DateTimeField()),
                ('actor_kind', models.CharField(max_length=16)),
                ('actor_id', models.CharField(blank=True, max_length=64)),
                ('actor_label', models.CharField(blank=True, max_length=150)),
                ('action', models.CharField(max_length=64)),
                ('clip_id', models.UUIDField(blank=True, null=True)),
                ('subject_pseudonym', models.CharField(blank=True, max_length=64)),
                ('facility_id', models.IntegerField(blank=True, null=True)),
                ('facility_name', models.CharField(blank=True, max_length=150)),
                ('client_address', models.CharField(blank=True, max_length=64)),
                ('outcome', models.CharField(choices=[('granted', 'Granted'), ('denied', 'Denied')], max_length=8)),
                ('reason', models.CharField(blank=True, max_length=64)),
                ('request_id', models.CharField(blank=True, max_length=64)),
                ('extra', apps.audit.models.CanonicalJSONField(blank=True, default=dict)),
                ('pending_id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('mac', models.CharField(max_length=96)),
                ('rejected_at', models.DateTimeField()),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
