{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('activity_id'),
        pre_hook="{{ collect_changed_keys('crm', 'activities', 'activity_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('crm', 'activities') }}
    where {{ changed_key('activity_id') }}

),

deletions as (

    {{ deletions_of('crm', 'activities', 'activity_id') }}

),

renamed as (

    select
        -- ids
        activity_id,
        rep_id,
        account_id,
        opportunity_id,

        -- attributes
        lower(activity_type) as activity_type,

        -- timestamps
        cast(occurred_at as timestamptz) as occurred_at,
        {{ to_reporting_date('cast(occurred_at as timestamptz)') }} as occurred_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'activity_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'activity_id', 'updated_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
