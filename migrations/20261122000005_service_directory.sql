-- The service directory: each provider describes its services (types, area, criteria,
-- contact, hours) so hub and ward staff can find the right one.
CREATE TABLE directory_services (
    id             bigserial PRIMARY KEY,
    org_code       text NOT NULL REFERENCES organisations(code),
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    service_types  text[] NOT NULL CHECK (cardinality(service_types) >= 1),
    area           text NOT NULL DEFAULT '' CHECK (char_length(area) <= 500),
    districts      text[] NOT NULL DEFAULT '{}',
    criteria       text NOT NULL DEFAULT '' CHECK (char_length(criteria) <= 2000),
    contact        text NOT NULL CHECK (char_length(contact) BETWEEN 1 AND 300),
    hours          text NOT NULL DEFAULT '' CHECK (char_length(hours) <= 200),
    updated_at     timestamptz NOT NULL,
    updated_by     bigint REFERENCES users(id)
);
CREATE INDEX directory_services_org_idx ON directory_services (org_code, name);
CREATE INDEX directory_services_types_idx ON directory_services USING gin (service_types);
CREATE INDEX directory_services_districts_idx ON directory_services USING gin (districts);
