{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('lead_id'),
        pre_hook="{{ collect_changed_keys('crm', 'leads', 'lead_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('crm', 'leads') }}
    where {{ changed_key('lead_id') }}

),

deletions as (

    {{ deletions_of('crm', 'leads', 'lead_id') }}

),

renamed as (

    select
        -- ids
        lead_id,
        owner_rep_id,
        converted_account_id,
        converted_opportunity_id,

        -- attributes
        lower(source_channel) as source_channel,
        lower(status) as status,
        lower(status) = 'converted' as is_converted,

        -- timestamps
        cast(created_at as timestamptz) as created_at,
        {{ to_reporting_date('cast(created_at as timestamptz)') }} as created_date,
        cast(converted_at as timestamptz) as converted_at,
        {{ to_reporting_date('cast(converted_at as timestamptz)') }} as converted_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'lead_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'lead_id', 'updated_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
