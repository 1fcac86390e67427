-- The latest version of each account (stg_crm__account_versions holds them all), flagged when
-- the CRM has deleted it since.
with

versions as (

    select * from {{ ref('stg_crm__account_versions') }}

),

deletions as (

    {{ deletions_of('crm', 'accounts', 'account_id') }}

),

deduplicated as (

    {{ dedupe_latest('versions', 'account_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'account_id', 'updated_at') }}

)

select * from final
