-- The latest version of each rep (stg_crm__rep_versions holds them all), flagged when
-- the CRM has deleted it since.
with

versions as (

    select * from {{ ref('stg_crm__rep_versions') }}

),

deletions as (

    {{ deletions_of('crm', 'reps', 'rep_id') }}

),

deduplicated as (

    {{ dedupe_latest('versions', 'rep_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'rep_id', 'updated_at') }}

)

select * from final
