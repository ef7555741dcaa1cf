-- Target schema 0002: the migrated tables, in dependency order.
--
-- Rules every table here keeps (docs/design/schemas.md):
--  * id uuid PRIMARY KEY: a UUIDv5 of "<entity>:<legacy id>" computed by the
--    engine, so no default; re-runs give the same ids.
--  * legacy_id: the legacy primary key, UNIQUE NOT NULL.
--  * Foreign keys are enforced and named after the target table; every
--    foreign key column has an index.
--  * deleted_at: set by an incremental sync when the legacy row vanished
--    (legacy rows are hard-deleted); rows are never deleted here.
--  * created_at/updated_at are the legacy values, where the legacy table has them.
--  * Free text that is empty in the legacy database ('') is NULL here.
-- Natural keys (profiles.username, orders.order_number) are indexed but not
-- UNIQUE: a soft-deleted row keeps its value while the legacy system may give
-- it to a new row.
-- Never edit this file once applied: add a new numbered migration instead.

-- dispatch_office
CREATE TABLE public.offices (
    id            uuid PRIMARY KEY,
    legacy_id     bigint NOT NULL UNIQUE,
    name          text NOT NULL,
    address_line1 text NULL,
    address_line2 text NULL,
    city          text NULL,
    state         text NULL,
    zip_code      text NULL,
    country       text NULL,            -- ISO 3166 alpha-2
    phone         text NULL,
    email         text NULL,            -- NULL when not an address
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz NULL
);

-- auth_user: every account (staff, doctors, patients). No role column: a
-- profile is a doctor or a patient by the row that points at it. Password
-- hashes are not copied. auth_user has no created_at/updated_at.
CREATE TABLE public.profiles (
    id           uuid PRIMARY KEY,
    legacy_id    bigint NOT NULL UNIQUE,
    username     text NOT NULL,
    first_name   text NULL,             -- NULL when unknown ('' in legacy)
    last_name    text NULL,
    email        text NULL,             -- NULL when unknown or not an address
    is_staff     boolean NOT NULL,
    is_superuser boolean NOT NULL,
    is_active    boolean NOT NULL,
    last_login   timestamptz NULL,
    date_joined  timestamptz NOT NULL,
    deleted_at   timestamptz NULL
);
CREATE INDEX profiles_username_idx ON public.profiles (username);
CREATE INDEX profiles_email_idx ON public.profiles (lower(email));

-- dispatch_doctor
CREATE TABLE public.doctors (
    id             uuid PRIMARY KEY,
    legacy_id      bigint NOT NULL UNIQUE,
    profile_id     uuid NOT NULL REFERENCES public.profiles (id),
    office_id      uuid NULL REFERENCES public.offices (id),
    license_number text NULL,
    specialty      text NULL,
    phone          text NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz NULL
);
CREATE INDEX doctors_profile_id_idx ON public.doctors (profile_id);
CREATE INDEX doctors_office_id_idx ON public.doctors (office_id);

-- dispatch_patient. Names and e-mail are in the profile. Duplicate patients
-- merged by deduplication have no row: their references point at the survivor
-- (medmigrate.merges). The legacy table has no created_at.
CREATE TABLE public.patients (
    id                uuid PRIMARY KEY,
    legacy_id         bigint NOT NULL UNIQUE,
    profile_id        uuid NOT NULL REFERENCES public.profiles (id),
    primary_doctor_id uuid NULL REFERENCES public.doctors (id),  -- derived (e.g. from orders)
    birthdate         date NULL,        -- NULL when unknown (also legacy 1900-01-01)
    sex               public.sex NOT NULL DEFAULT 'unknown',
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz NULL
);
CREATE INDEX patients_profile_id_idx ON public.patients (profile_id);
CREATE INDEX patients_primary_doctor_id_idx ON public.patients (primary_doctor_id);

-- dispatch_order. An order whose patient does not exist is rejected; a
-- missing doctor or office becomes NULL (with a warning).
CREATE TABLE public.orders (
    id            uuid PRIMARY KEY,
    legacy_id     bigint NOT NULL UNIQUE,
    order_number  text NOT NULL,
    patient_id    uuid NOT NULL REFERENCES public.patients (id),
    doctor_id     uuid NULL REFERENCES public.doctors (id),
    office_id     uuid NULL REFERENCES public.offices (id),
    status        public.order_status NOT NULL,
    legacy_status text NULL,            -- the raw legacy text when status = 'unknown'
    total_price   numeric(12, 2) NOT NULL,
    currency      text NOT NULL,        -- ISO 4217 code
    due_date      date NULL,
    notes         text NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz NULL
);
CREATE INDEX orders_order_number_idx ON public.orders (order_number);
CREATE INDEX orders_patient_id_idx ON public.orders (patient_id);
CREATE INDEX orders_doctor_id_idx ON public.orders (doctor_id);
CREATE INDEX orders_office_id_idx ON public.orders (office_id);

-- dispatch_product. A negative quantity is rejected by the engine; the CHECK
-- makes sure none slips through.
CREATE TABLE public.products (
    id         uuid PRIMARY KEY,
    legacy_id  bigint NOT NULL UNIQUE,
    order_id   uuid NOT NULL REFERENCES public.orders (id),
    sku        text NOT NULL,
    name       text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity >= 0),
    unit_price numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz NULL
);
CREATE INDEX products_order_id_idx ON public.products (order_id);

-- dispatch_jaw: orthodontic jaw scans.
CREATE TABLE public.jaws (
    id         uuid PRIMARY KEY,
    legacy_id  bigint NOT NULL UNIQUE,
    patient_id uuid NOT NULL REFERENCES public.patients (id),
    order_id   uuid NULL REFERENCES public.orders (id),
    jaw_type   public.jaw_type NOT NULL,
    scan_file  text NULL,               -- legacy file server path, NULL when empty
    notes      text NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz NULL
);
CREATE INDEX jaws_patient_id_idx ON public.jaws (patient_id);
CREATE INDEX jaws_order_id_idx ON public.jaws (order_id);

-- dispatch_project: 3D digital assets. Project types and statuses are an open
-- vocabulary in the legacy data, so they stay text.
CREATE TABLE public.projects (
    id           uuid PRIMARY KEY,
    legacy_id    bigint NOT NULL UNIQUE,
    name         text NOT NULL,
    project_type text NOT NULL,
    status       text NOT NULL,
    file_path    text NULL,
    file_size    bigint NULL,           -- bytes
    version      integer NOT NULL DEFAULT 1,
    metadata     jsonb NULL,            -- NULL when the legacy text is not valid JSON ...
    metadata_raw text NULL,             -- ... and then the legacy text is kept here
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz NULL
);

-- dispatch_treatmentplan
CREATE TABLE public.treatment_plans (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    patient_id  uuid NOT NULL REFERENCES public.patients (id),
    doctor_id   uuid NULL REFERENCES public.doctors (id),
    title       text NOT NULL,
    description text NULL,
    stage_count integer NOT NULL DEFAULT 0,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz NULL
);
CREATE INDEX treatment_plans_patient_id_idx ON public.treatment_plans (patient_id);
CREATE INDEX treatment_plans_doctor_id_idx ON public.treatment_plans (doctor_id);

-- dispatch_template
CREATE TABLE public.workflow_templates (
    id          uuid PRIMARY KEY,
    legacy_id   bigint NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NULL,
    tasks       jsonb NULL,             -- NULL when the legacy text is not valid JSON ...
    tasks_raw   text NULL,              -- ... and then the legacy text is kept here
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz NULL
);

-- One row per element of a template's tasks array. It has no legacy row of
-- its own: legacy_id is '<template legacy id>:<position>' (position from 0).
CREATE TABLE public.workflow_template_tasks (
    id                   uuid PRIMARY KEY,
    legacy_id            text NOT NULL UNIQUE,
    workflow_template_id uuid NOT NULL REFERENCES public.workflow_templates (id),
    position             integer NOT NULL CHECK (position >= 0),
    name                 text NULL,
    role                 text NULL,
    sequence             integer NULL,
    duration_hours       numeric NULL,
    deleted_at           timestamptz NULL,
    UNIQUE (workflow_template_id, position)
);
-- The UNIQUE index above leads with workflow_template_id and serves the foreign key.

-- dispatch_state: the append-only audit trail of order state changes. The raw
-- codes are kept beside the names ('unknown' for -1, 99, ...).
CREATE TABLE public.instruction_states (
    id                  uuid PRIMARY KEY,
    legacy_id           bigint NOT NULL UNIQUE,
    order_id            uuid NOT NULL REFERENCES public.orders (id),
    instruction         text NULL,
    state               public.instruction_state NOT NULL,
    state_code          integer NOT NULL,
    previous_state      public.instruction_state NULL,
    previous_state_code integer NULL,
    changed_by_id       uuid NULL REFERENCES public.profiles (id),  -- NULL when the user is gone
    changed_at          timestamptz NOT NULL,
    note                text NULL,
    deleted_at          timestamptz NULL
);
CREATE INDEX instruction_states_order_id_idx
    ON public.instruction_states (order_id, changed_at);
CREATE INDEX instruction_states_changed_by_id_idx ON public.instruction_states (changed_by_id);
