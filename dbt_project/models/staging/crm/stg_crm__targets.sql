{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=marked_table_indexes('target_id'),
        pre_hook="{{ collect_changed_keys('crm', 'targets', 'target_id', deletions=true) }}",
    )
}}

with

source as (

    select * from {{ source('crm', 'targets') }}
    where {{ changed_key('target_id') }}

),

deletions as (

    {{ deletions_of('crm', 'targets', 'target_id') }}

),

renamed as (

    select
        -- ids
        target_id,
        rep_id,

        -- attributes
        lower(product_line) as product_line,
        cast(date_trunc('month', cast(target_month as date)) as date) as target_month,

        -- amounts (original currency; see var reporting_currency)
        cast(amount as numeric(18, 2)) as target_amount,
        upper(currency) as currency,

        -- timestamps
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'target_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'target_id', 'updated_at') }}

)

select
    final.*,
    {{ build_marker() }} as _built_at

from final
