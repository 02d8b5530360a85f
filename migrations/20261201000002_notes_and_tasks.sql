-- Notes, a contact log and tasks on a case (issue 12): what the hub and the ward did and must
-- still do. Hub and ward information only: providers never see it.

CREATE TABLE case_notes (
    id          bigserial PRIMARY KEY,
    patient_id  bigint NOT NULL REFERENCES patients(id),
    at          timestamptz NOT NULL,
    author_id   bigint NOT NULL REFERENCES users(id),
    -- a note, or a record of a phone call or an email
    kind        text NOT NULL CHECK (kind IN ('note', 'call', 'email')),
    text        text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 4000)
);
CREATE INDEX case_notes_patient_idx ON case_notes (patient_id, at DESC, id DESC);
-- what was written stays written
CREATE TRIGGER case_notes_append_only BEFORE UPDATE OR DELETE ON case_notes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER case_notes_no_truncate BEFORE TRUNCATE ON case_notes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE case_tasks (
    id           bigserial PRIMARY KEY,
    patient_id   bigint NOT NULL REFERENCES patients(id),
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    due_at       timestamptz NOT NULL,
    assignee_id  bigint NOT NULL REFERENCES users(id),
    created_by   bigint NOT NULL REFERENCES users(id),
    created_at   timestamptz NOT NULL,
    done_at      timestamptz,
    done_by      bigint REFERENCES users(id),
    updated_at   timestamptz NOT NULL,
    CHECK ((done_at IS NULL) = (done_by IS NULL))
);
-- a user's open tasks by due time (the header's "due today or overdue"), and a case's
CREATE INDEX case_tasks_assignee_open_idx ON case_tasks (assignee_id, due_at) WHERE done_at IS NULL;
CREATE INDEX case_tasks_patient_idx ON case_tasks (patient_id, due_at, id);
CREATE INDEX case_tasks_updated_idx ON case_tasks (updated_at DESC, id DESC);

-- live events, scoped like the case (the live filter keeps them from providers)
CREATE FUNCTION notify_casework_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('homeward_events', json_build_object(
        'type', CASE WHEN TG_TABLE_NAME = 'case_notes' THEN 'note.created'
                     WHEN TG_OP = 'INSERT' THEN 'task.created' ELSE 'task.updated' END,
        'at', now(),
        'patient_id', NEW.patient_id,
        'trust_code', (SELECT p.trust_code FROM patients p WHERE p.id = NEW.patient_id)
    )::text);
    RETURN NULL;
END $$;
CREATE TRIGGER case_notes_notify AFTER INSERT ON case_notes
    FOR EACH ROW EXECUTE FUNCTION notify_casework_change();
CREATE TRIGGER case_tasks_notify AFTER INSERT OR UPDATE ON case_tasks
    FOR EACH ROW EXECUTE FUNCTION notify_casework_change();
