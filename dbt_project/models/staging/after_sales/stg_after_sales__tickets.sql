{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('ticket_id'),
        pre_hook="{{ collect_changed_keys('after_sales', 'tickets', 'ticket_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('after_sales', 'tickets') }}
    where {{ changed_key('ticket_id') }}

),

deletions as (

    {{ deletions_of('after_sales', 'tickets', 'ticket_id') }}

),

renamed as (

    select
        -- ids
        ticket_id,
        account_id,

        -- attributes
        lower(priority) as priority,
        lower(status) as status,

        -- timestamps
        cast(opened_at as timestamptz) as opened_at,
        cast(first_response_at as timestamptz) as first_response_at,
        cast(resolved_at as timestamptz) as resolved_at,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'ticket_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'ticket_id', 'updated_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
