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
ROW_VALUES = ", ".join(f"r.{column.strip()}" for column in BODY_COLUMNS.split(","))

SEAL_FUNCTION = f"""
CREATE FUNCTION audit_seal(p_ids bigint[], p_rejected bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_seq bigint;
    v_hash text;
    v_prev text;
    r audit_pendingevent%ROWTYPE;
BEGIN
    -- Whoever else appends (an inline append, a second sealer) waits: one head at a time.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK});
    SELECT seq, hash INTO v_seq, v_hash FROM audit_accessevent ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_hash := repeat('0', 64);
    END IF;
    FOR r IN SELECT * FROM audit_pendingevent WHERE id = ANY(p_ids) OR id = ANY(p_rejected) ORDER BY id FOR UPDATE
    LOOP
        -- A MAC the caller found false, or a copy of a sealed event's MAC (a replay, which the
        -- log's unique MAC would refuse and so stall every later seal): kept aside, never chained.
        IF r.id = ANY(p_rejected) OR EXISTS (SELECT 1 FROM audit_accessevent WHERE mac = r.mac) THEN
            INSERT INTO audit_rejectedevent (pending_id, {BODY_COLUMNS}, mac, rejected_at)
            VALUES (r.id, {ROW_VALUES}, r.mac, now());
            RETURN NEXT r.id;
            CONTINUE;
        END IF;
        v_prev := v_hash;
        v_seq := v_seq + 1;
        -- reviewsvc/audit/chain.py: SHA-256(0x00 || 0x01 || u64be(seq) || prev_hash || body)
        v_hash := encode(sha256('\\x0001'::bytea || int8send(v_seq) || decode(v_prev, 'hex') || convert_to(concat_ws(
            E'\\x1f', (extract(epoch FROM r.time) * 1000000)::int8::text, r.actor_kind, r.actor_id, r.actor_label,
            r.action, coalesce(r.clip_id::text, ''), r.subject_pseudonym, coalesce(r.facility_id::text, ''),
            r.facility_name, r.client_address, r.outcome, r.reason, r.request_id, r.extra), 'UTF8')), 'hex');
        INSERT INTO audit_accessevent (seq, {BODY_COLUMNS}, prev_hash, hash, mac)
        VALUES (v_seq, {ROW_VALUES}, v_prev, v_hash, r.mac);
    END LOOP;
    DELETE FROM audit_pendingevent WHERE id = ANY(p_ids) OR id = ANY(p_rejected);
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
    for table in ("audit_pendingevent", "audit_rejectedevent"):
        schema_editor.execute(f"DROP TRIGGER {table}_no_update_delete ON {table}")
        schema_editor.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION audit_pending_refuse_change()")


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
                ('mac', models.CharField(max_length=96, unique=True)),
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
